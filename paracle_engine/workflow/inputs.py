"""A workflow's inputs: declared ones defaulted, required ones demanded, types loosely checked."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from paracle_engine.errors import BadInputError
from paracle_engine.models import InputSpec, WorkflowSpec

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def resolve_inputs(spec: WorkflowSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The inputs a run uses. Raises BadInputError, naming every problem, before anything runs."""
    given = dict(given or {})
    declared = ", ".join(spec.inputs) or "none"
    unknown = [k for k in given if k not in spec.inputs]
    if unknown:
        raise BadInputError(
            f"workflow '{spec.name}' has no input {', '.join(repr(k) for k in unknown)}",
            hint=f"declared inputs: {declared}",
        )
    out: dict[str, Any] = {}
    missing: list[str] = []
    for name, decl in spec.inputs.items():
        if name in given:
            value = _coerce(name, decl, given[name])
        elif decl.has_default or decl.default is not None:
            value = copy.deepcopy(decl.default)
        elif decl.required:
            missing.append(name)
            continue
        else:
            value = None
        if decl.enum is not None and value is not None and value not in decl.enum:
            raise BadInputError(
                f"input '{name}' is {value!r}, which is not one of {decl.enum}",
                hint=f"pass one of them: --input {name}={decl.enum[0]}",
            )
        out[name] = value
    if missing:
        flags = " ".join(f"--input {m}=VALUE" for m in missing)
        raise BadInputError(
            f"workflow '{spec.name}' needs input {', '.join(missing)}", hint=f"pass {flags}"
        )
    return out


def _coerce(name: str, decl: InputSpec, value: Any) -> Any:
    kind = decl.type.lower()
    if value is None:
        return None
    if kind in ("string", "str"):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return value if isinstance(value, str) else str(value)
    elif kind in ("integer", "int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind in ("number", "float"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind in ("boolean", "bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
    elif kind in ("array", "list"):
        if isinstance(value, list | tuple):
            return list(value)
    elif kind in ("object", "dict"):
        if isinstance(value, dict):
            return value
    else:
        return value
    example = {
        "array": '\'["a", "b"]\'',
        "list": "'[\"a\"]'",
        "object": "'{\"k\": 1}'",
        "dict": "'{\"k\": 1}'",
        "boolean": "true",
        "bool": "true",
    }.get(kind, "VALUE")
    raise BadInputError(
        f"input '{name}' should be {decl.type}, got {type(value).__name__} {value!r}",
        hint=f"pass --input {name}={example} (values are parsed as JSON)",
    )
