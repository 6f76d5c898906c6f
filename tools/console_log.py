"""Turn a raw console capture of a long command into the log a reproduction folder keeps: every
progress-bar frame dropped except each bar's finished one, nothing else changed.

    python tools/console_log.py RAW.log "COMMAND AS RUN" > reproductions/NAME/reproduce.log
"""

from __future__ import annotations

import re
import sys

BAR = re.compile(r"^(?P<label>[^|]*?):\s+\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+)")
CURSOR_UP = "\x1b[A"  # tqdm's nested bars move the cursor; a text log has no cursor


# A slice's header in a lane's log (tools/cpu_decisive.sh). A process stopped mid-bar leaves its last frame
# unterminated, and the next slice's header then follows it on the same line: it starts a frame of its own.
SLICE_HEADER = re.compile(r"(?<=[^\r\n])(?=## python -m sam_bench )")


def frames(text: str) -> list[str]:
    """What the terminal showed, one frame per carriage return or newline (and per slice header)."""
    text = SLICE_HEADER.sub("\n", text)
    return [f.replace(CURSOR_UP, "").rstrip() for f in re.split(r"[\r\n]", text)]


def finished_only(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        if not line:
            continue
        bar = BAR.match(line)
        if bar and bar["done"] != bar["total"]:
            continue  # a frame of a bar still running
        if (
            bar
            and kept
            and (previous := BAR.match(kept[-1]))
            and previous["label"] == bar["label"]
            and previous["done"] == previous["total"]
        ):
            kept[-1] = line  # tqdm redraws a finished bar on close: keep its last, final rate
            continue
        kept.append(line)
    return kept


def main(raw: str, command: str) -> None:
    with open(raw, encoding="utf-8", errors="replace") as f:
        lines = finished_only(frames(f.read()))
    print(f"# Console output of: {command}")
    print("# (progress-bar frames dropped except finished bars by tools/console_log.py; nothing else edited)")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/console_log.py RAW.log 'COMMAND AS RUN'")
    main(sys.argv[1], sys.argv[2])
