"""Template and condition values: a parsed AST resolved against a running workflow's `Context`.

Values are inserted as text once (`to_text`); model output is never rendered again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paracle_engine.templates.parser import (
    Ref,
    TemplateError,
    parse_expression,
    parse_template,
)


class Context:
    """What references resolve against while a workflow runs.

    `lookup(ref)` returns the value; a reference to a step that did not complete (skipped,
    failed) resolves to None, which renders as an empty string.
    """

    def __init__(
        self,
        inputs: Mapping[str, Any],
        step_output: Callable[[str], tuple[bool, str, Mapping[str, Any]] | None],
        all_steps: Callable[[], str] = lambda: "",
    ) -> None:
        self.inputs = inputs
        self._step_output = step_output
        self._all_steps = all_steps

    def lookup(self, ref: Ref) -> Any:
        if ref.kind == "input":
            name = ref.name or ""
            if name not in self.inputs:
                raise TemplateError(f"unknown input '{name}'", hint="declare it under inputs:")
            return self.inputs[name]
        if ref.kind == "steps":
            return self._all_steps()
        found = self._step_output(ref.step or "")
        if found is None:
            raise TemplateError(
                f"'{ref.text}' names step '{ref.step}', which has not finished",
                hint="add it to depends_on",
            )
        completed, text, outputs = found
        if not completed:
            return None
        if ref.kind == "output":
            return text
        return outputs.get(ref.name or "")


def _eval(node: tuple, ctx: Context) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "ref":
        return ctx.lookup(node[1])
    if tag == "not":
        return not truthy(_eval(node[1], ctx))
    if tag == "bool":
        return truthy(_eval(node[1], ctx))
    if tag == "and":
        return truthy(_eval(node[1], ctx)) and truthy(_eval(node[2], ctx))
    if tag == "or":
        return truthy(_eval(node[1], ctx)) or truthy(_eval(node[2], ctx))
    return _compare(node[1], _eval(node[2], ctx), _eval(node[3], ctx))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _same(a, b)
    if op == "!=":
        return not _same(a, b)
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise TemplateError(
            f"cannot compare {_kind(a)} {op} {_kind(b)}",
            hint="order comparisons need two numbers or two strings",
        )
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _same(a: Any, b: Any) -> bool:
    # true is not 1: booleans compare only with booleans.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if _is_number(v):
        return "a number"
    if isinstance(v, str):
        return "a string"
    return "a list" if isinstance(v, list) else "an object"


def truthy(value: Any) -> bool:
    """A condition's truth: null, false, 0, "" and empty lists or objects are false."""
    return bool(value)


def evaluate_condition(condition: str, ctx: Context) -> bool:
    """Evaluate a condition, with or without `{{ }}` around it (the braces group)."""
    return truthy(_eval(parse_expression(condition), ctx))


def to_text(value: Any) -> str:
    """How a value is inserted into text: strings as they are, null as "", others as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, ctx: Context) -> str:
    """Render a template to text. Inserted values are never rendered again."""
    if "{{" not in template:
        return template
    out: list[str] = []
    for part in parse_template(template):
        out.append(part if isinstance(part, str) else to_text(_eval(part[0], ctx)))
    return "".join(out)


def evaluate(template: str, ctx: Context) -> Any:
    """A template's value: the value itself when it is one `{{ expr }}`, else rendered text."""
    parts = parse_template(template) if "{{" in template else (template,)
    if len(parts) == 1 and not isinstance(parts[0], str):
        return _eval(parts[0][0], ctx)
    return render(template, ctx)


def evaluate_value(value: Any, ctx: Context) -> Any:
    """Evaluate every template inside a value (strings, lists, mappings), iteratively."""
    if isinstance(value, str):
        return evaluate(value, ctx)
    if not isinstance(value, list | dict):
        return value
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        holder, key, item = stack.pop()
        if isinstance(item, str):
            holder[key] = evaluate(item, ctx)
        elif isinstance(item, list):
            new_list: list[Any] = [None] * len(item)
            holder[key] = new_list
            stack.extend((new_list, i, v) for i, v in enumerate(item))
        elif isinstance(item, dict):
            new_dict: dict[Any, Any] = {}
            holder[key] = new_dict
            for k, v in item.items():
                new_dict[k] = None
                stack.append((new_dict, k, v))
        else:
            holder[key] = item
    return root[0]


def strings_in(value: Any) -> Sequence[tuple[str, str]]:
    """Every string inside a value with its dotted path ("a.0.b"), iteratively."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found.append((path, item))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(item))
        elif isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in item.items())
    found.reverse()
    return found
