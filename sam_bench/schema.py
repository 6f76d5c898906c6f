"""One schema per file type that crosses a boundary, checked where the file enters (docs/schemas.md).

The schemas are the JSON Schema files in `sam_bench/schemas/`; this checker needs no `jsonschema` package and
understands the part of JSON Schema those files use (`format`, `title`, `description` and `$comment` are notes).
It is stricter than JSON Schema on purpose: an "integer" must be written as one, and a "number" must be finite.

    check("zoo-entry", entry, where="model_zoo/.../X.json", fix="restore it with git checkout")

raises SamBenchError (or the error class given) with one line: where, which field, what is wrong,
and the way forward.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from pathlib import Path

from sam_bench import threat_models
from sam_bench.errors import SamBenchError

SCHEMA_DIR = Path(__file__).parent / "schemas"
KINDS = (
    "eval-results",
    "run-metadata",
    "zoo-entry",
    "leaderboard-entry",
    "recipe",
    "recheck",
    "robustbench-references",
    "probe",
)
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def table_enums() -> dict[str, list]:
    """The enums that the evaluation's tables own, by the name a schema's `x-table` gives: a threat model's name,
    an attack norm, RobustBench's leaderboard budgets (sam_bench.threat_models)."""
    return {
        "threat_models": list(threat_models.names()),
        "norms": list(threat_models.norm_names()),
        "robustbench_budgets": list(dict.fromkeys(threat_models.robustbench_budgets().values())),
    }


def load(name: str) -> dict:
    """The schema file `sam_bench/schemas/<name>.schema.json` (name without the suffix). An enum marked
    `"x-table": NAME` is checked against the table's values as they are (table_enums: the files' own lists are
    for other JSON Schema tools, and tests/test_evaluation_tables.py keeps them equal to the tables)."""
    return _loaded(name, json.dumps(table_enums()))


@functools.cache
def _loaded(name: str, enums: str) -> dict:  # once per file and state of the tables
    return _with_table_enums(json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text()), json.loads(enums))


def _with_table_enums(node, enums: dict[str, list]):
    if isinstance(node, list):
        return [_with_table_enums(item, enums) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: _with_table_enums(value, enums) for key, value in node.items()}
    if "x-table" in node:
        found["enum"] = enums[node["x-table"]] + ([None] if None in node.get("enum", []) else [])
    return found


_PYTHON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _is_type(value, kind: str) -> bool:
    if kind in _PYTHON_TYPES:
        return isinstance(value, _PYTHON_TYPES[kind])
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == "integer":
        return isinstance(value, int)
    return math.isfinite(value)  # number


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve(ref: str, root: dict) -> tuple[dict, dict]:
    """(the schema a $ref points to, the root its own local refs resolve against)."""
    file, _, pointer = ref.partition("#")
    if file:
        root = load(file.removesuffix(".schema.json"))
    node = root
    for part in [p for p in pointer.split("/") if p]:
        node = node[part]
    return node, root


def problem(value, schema: dict, root: dict, path: str = "") -> str | None:
    """The first thing wrong with `value` under `schema` (None: nothing), as 'path: what'."""
    here = path or "the file"
    if "$ref" in schema:
        target, target_root = _resolve(schema["$ref"], root)
        found = problem(value, target, target_root, path)
        if found:
            return found
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, k) for k in kinds):
            if isinstance(value, float) and not math.isfinite(value) and ("number" in kinds or "integer" in kinds):
                return f"{here}: {value} is not a finite number"
            wanted = " or ".join(_TYPE_WORDS[k] for k in kinds)
            return f"{here}: {_show(value)} is not {wanted}"
    if "const" in schema and value != schema["const"]:
        return f"{here}: {_show(value)} is not {_show(schema['const'])}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{here}: {_show(value)} is not one of {', '.join(_show(v) for v in schema['enum'])}"
    if _is_type(value, "number"):
        for key, fails, words in (
            ("minimum", lambda v, b: v < b, "below the minimum"),
            ("maximum", lambda v, b: v > b, "above the maximum"),
            ("exclusiveMinimum", lambda v, b: v <= b, "not above"),
            ("exclusiveMaximum", lambda v, b: v >= b, "not below"),
        ):
            if key in schema and fails(value, schema[key]):
                return f"{here}: {_show(value)} is {words} {_show(schema[key])}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{here}: {_show(value)} is too short"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{here}: {_show(value)} is not in the expected form ({schema['pattern']})"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{here}: has {len(value)} items, needs at least {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{here}: has {len(value)} items, at most {schema['maxItems']} allowed"
        if "items" in schema:
            for i, item in enumerate(value):
                found = problem(item, schema["items"], root, f"{path}[{i}]")
                if found:
                    return found
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{here}: missing {key!r}"
        props = schema.get("properties", {})
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in props:
                found = problem(item, props[key], root, where)
            elif schema.get("additionalProperties") is False:
                close = difflib.get_close_matches(str(key), list(props), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(props)})"
                found = f"{here}: unknown key {key!r}{hint}"
            elif isinstance(schema.get("additionalProperties"), dict):
                found = problem(item, schema["additionalProperties"], root, where)
            else:
                found = None
            if found:
                return found
    for sub in schema.get("allOf", []):
        found = problem(value, sub, root, path)
        if found:
            return found
    for key in ("oneOf", "anyOf"):  # our schemas' branches never overlap, so oneOf reads as anyOf
        if key in schema:
            found_all = [problem(value, sub, root, path) for sub in schema[key]]
            if all(found_all):
                # the branch of the value's own type says most (e.g. an object's bad field, not "not null")
                typed = [f for f, sub in zip(found_all, schema[key]) if not _type_mismatch(value, sub, root)]
                return (typed or found_all)[0]
    if "if" in schema and problem(value, schema["if"], root, path) is None and "then" in schema:
        found = problem(value, schema["then"], root, path)
        if found:
            return found
    return None


def _type_mismatch(value, schema: dict, root: dict) -> bool:
    if "$ref" in schema:
        schema, root = _resolve(schema["$ref"], root)
    kinds = schema.get("type")
    if kinds is None:
        return False
    return not any(_is_type(value, k) for k in (kinds if isinstance(kinds, list) else [kinds]))


def find(kind: str, document, ref: str = "") -> str | None:
    """The first problem of `document` under schema `kind` (at `ref`), or None."""
    root = load(kind)
    return problem(document, _resolve(ref, root)[0] if ref else root, root)


def check(kind: str, document, where: str, fix: str = "", error: type[BaseException] = SamBenchError, ref: str = ""):
    """`document` if it fits schema `kind` (optionally the part at `ref`, e.g. '#/$defs/config'),
    else raise `error` with one line: '<where>: <field>: <what is wrong>[; <fix>]'."""
    found = find(kind, document, ref)
    if found:
        raise error(f"{where}: {found}" + (f"; {fix}" if fix else ""))
    return document
