"""Retired leaderboard rows: a model that a better-founded one replaces leaves its board with a note.

The entry file stays where it is (its numbers and sources are still true, its weights stay in the zoo and in git
history); `sam_bench.retired` in it holds the note, what replaced it and when. Rendering leaves retired entries out
of the ranking, the plot and the README table and lists them under the table with their notes. Adding new results
for a retired model keeps it retired.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.leaderboard.board_text import markdown
from sam_bench.leaderboard.entries import BoardEntry


def entry_paths(model_id: str, root: Path) -> list[Path]:
    """Every leaderboard entry of this model id (one per board it is on)."""
    return sorted(root.glob(f"*/*/{model_id}.json"))


def retire(model_ids: list[str], note: str, root: Path, replaced_by: list[str] | None = None) -> list[Path]:
    """Mark these models' entries retired with `note` (an unknown id writes nothing); the files written."""
    note = " ".join(note.split())
    if not note:
        raise BadInput("--note: say why the rows leave the board (e.g. what replaces them)")
    found = {model_id: entry_paths(model_id, root) for model_id in model_ids}
    missing = [model_id for model_id, paths in found.items() if not paths]
    if missing:
        raise BadInput(f"{missing[0]}: no leaderboard entry under {root}; `sam-bench leaderboard add` writes entries")
    for model_id in replaced_by or []:  # a replacement is a row the reader can find on the board
        if model_id in found:
            raise BadInput(f"--replaced-by {model_id}: a model cannot replace itself")
        if not entry_paths(model_id, root):
            raise BadInput(f"--replaced-by {model_id}: no leaderboard entry under {root}")
    record = {
        "note": note,
        "replaced_by": list(replaced_by or []),
        "date": datetime.now(timezone.utc).date().isoformat(),
    }
    written = []
    with files.locked(root):
        for paths in found.values():
            for path in paths:
                info = files.read_json(path)
                info.setdefault("sam_bench", {})["retired"] = record
                files.write_json(path, info)
                written.append(path)
    return written


def markdown_lines(retired: list[BoardEntry]) -> list[str]:
    """The list under a board's table: each retired model and its note."""
    if not retired:
        return []
    lines = ["", "Retired from this board (entries kept in leaderboards/, weights in the zoo and git history):", ""]
    for m in sorted(retired, key=lambda m: m.model_id):
        r = m.retired or {}
        replaced = f" Replaced by {markdown(', '.join(r['replaced_by']))}." if r.get("replaced_by") else ""
        lines.append(f"- **{markdown(m.model_id)}** ({markdown(r['date'])}): {markdown(r['note'])}{replaced}")
    return lines
