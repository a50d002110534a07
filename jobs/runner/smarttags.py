"""Finds a model's functions the way ModelOp Center does: by comment "smart tags".

    # modelop.init          the next function is the init function
    # modelop.score         ... the score function (also metrics, train)
    # modelop.schema.0: input_schema.avsc     header tags: input/output schema file names
    # modelop.recordsets.0: true              score receives all input as one DataFrame
    # modelop.recordsets.1: true              a yielded DataFrame is written as records
    # moc.batch: true                         (ours) score receives one DataFrame per chunk

    # modelop.slot.0: in-use                  slots: inputs on even numbers, outputs on odd
    # modelop.schema.2: second_input.avsc     (a score function of two parameters gets
                                              (record, slot number))

"#modelop.score" (no space) is accepted too, and so are the legacy FastScore tags, which mean
what their modelop counterparts mean: "# fastscore.init" (also "fastscore.begin"),
"# fastscore.action" (the score function), "# fastscore.schema.0: ...",
"# fastscore.recordsets.0: ...", "# fastscore.slot.0: ...". This module imports nothing from
Django, so the model process can use it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field

FUNCTION_KINDS = ("init", "score", "metrics", "train")
JOB_FUNCTIONS = ("score", "metrics", "train")

_FUNCTION_TAG = re.compile(
    r"^\s*#\s*(?:modelop|fastscore)\.(init|begin|score|action|metrics|train)\s*$"
)
_HEADER_TAG = re.compile(
    r"^\s*#\s*(?:modelop|fastscore)\.(schema|recordsets|slot)\.(\d{1,2})\s*:\s*(\S+)\s*$"
)
_LEGACY_KINDS = {"begin": "init", "action": "score"}  # FastScore's names
SOURCE_SUFFIXES = (".py", ".py3")
_BATCH_TAG = re.compile(r"^\s*#\s*moc\.batch\s*:\s*(\S+)\s*$")
_TRUE = {"true", "yes", "1", "on"}


class SmartTagError(ValueError):
    """The source cannot be used as a model; the message says why, for a person."""


@dataclass
class SmartTags:
    functions: dict[str, str] = field(default_factory=dict)  # kind -> function name
    input_schema: str = ""
    output_schema: str = ""
    recordsets_in: bool = False
    recordsets_out: bool = False
    batch: bool = False
    # Slot number (as text, JSON keys) -> "in-use" or "unused"; and the schemas of slots 2+.
    slots: dict[str, str] = field(default_factory=dict)
    schemas: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SmartTags:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def parse_smart_tags(source: str, *, filename: str = "model.py") -> SmartTags:
    """Parse SOURCE; raise SmartTagError when it is not Python or has no job function."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise SmartTagError(
            f"{filename} is not valid Python: line {exc.lineno}: {exc.msg}."
        ) from exc
    except (MemoryError, RecursionError):
        # CPython's parser gives up on deep nesting ("-" * 100000 + "1", "1+1+...+1") with
        # these, not a SyntaxError; the source is bounded, so this is not a real lack of memory.
        raise SmartTagError(
            f"{filename}: the model source is too deeply nested for Python to parse; "
            "split the deepest expression into smaller ones."
        ) from None

    # First line of each top-level function (its first decorator, if any) -> its name.
    starts: dict[int, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            starts[first] = node.name

    lines = source.splitlines()
    tags = SmartTags()
    for index, line in enumerate(lines):
        if match := _FUNCTION_TAG.match(line):
            kind = _LEGACY_KINDS.get(match.group(1), match.group(1))
            name = _function_after(lines, index, starts)
            if name is None:
                raise SmartTagError(
                    f"{filename} line {index + 1}: the tag '# modelop.{kind}' must stand on "
                    f"the line just above a top-level function definition."
                )
            if kind in tags.functions and tags.functions[kind] != name:
                raise SmartTagError(
                    f"{filename}: two functions are tagged modelop.{kind} "
                    f"({tags.functions[kind]} and {name}); keep one."
                )
            tags.functions[kind] = name
        elif match := _HEADER_TAG.match(line):
            what, slot, value = match.groups()
            slot = str(int(slot))
            if what == "slot":
                if value.lower() not in ("in-use", "unused"):
                    raise SmartTagError(
                        f"{filename} line {index + 1}: a slot is 'in-use' or 'unused', "
                        f"not {value!r}."
                    )
                tags.slots[slot] = value.lower()
            elif what == "schema":
                if slot in ("0", "1"):
                    setattr(tags, "input_schema" if slot == "0" else "output_schema", value)
                else:
                    tags.schemas[slot] = value
            elif slot not in ("0", "1"):
                raise SmartTagError(
                    f"{filename} line {index + 1}: recordsets tags are for slots 0 and 1."
                )
            else:
                setattr(
                    tags,
                    "recordsets_in" if slot == "0" else "recordsets_out",
                    value.lower() in _TRUE,
                )
        elif match := _BATCH_TAG.match(line):
            tags.batch = match.group(1).lower() in _TRUE

    if not any(kind in tags.functions for kind in JOB_FUNCTIONS):
        raise SmartTagError(
            f"{filename} has no function tagged '# modelop.score', '# modelop.metrics' or "
            f"'# modelop.train'. Put such a comment on the line above the function."
        )
    return tags


def _function_after(lines: list[str], index: int, starts: dict[int, str]) -> str | None:
    """The function starting on the first code line after the tag at INDEX (0-based)."""
    for later in range(index + 1, len(lines)):
        text = lines[later].strip()
        if not text or text.startswith("#"):
            continue
        return starts.get(later + 1)
    return None
