"""Workflow templates and conditions: a small safe evaluator, never `eval`, never Jinja.

A template is text with `{{ expression }}` parts. An expression is a reference
(`inputs.NAME`, `steps.ID.output`, `steps.ID.outputs.KEY`, the shorthand `steps.ID.KEY`, or
`steps` alone), a literal, or, in conditions, comparisons joined by `and`, `or`, `not` and
parentheses. Nothing else parses: no attribute access beyond those paths, no calls, no
indexing. Values are inserted as text once; model output is never rendered again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from paracle_engine.errors import BadInputError


class TemplateError(BadInputError):
    """A template or condition does not parse, or cannot be evaluated."""

    def __init__(self, message: str, *, column: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.column = column


# --------------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference in a template.

    kind is "input" (inputs.NAME), "output" (steps.ID.output), "outputs"
    (steps.ID.outputs.KEY), "key" (the shorthand steps.ID.KEY) or "steps" (`steps` alone).
    """

    kind: str
    step: str | None = None
    name: str | None = None
    column: int = 0

    @property
    def text(self) -> str:
        if self.kind == "input":
            return f"inputs.{self.name}"
        if self.kind == "output":
            return f"steps.{self.step}.output"
        if self.kind == "outputs":
            return f"steps.{self.step}.outputs.{self.name}"
        if self.kind == "key":
            return f"steps.{self.step}.{self.name}"
        return "steps"


def parse_ref(path: str, column: int = 0) -> Ref:
    """Turn a dotted path into a Ref, or raise TemplateError saying which forms exist."""
    parts = path.split(".")
    if any(not p for p in parts):
        raise TemplateError(f"'{path}' is not a valid reference", column=column, hint=_REF_HINT)
    root = parts[0]
    if root == "inputs" and len(parts) == 2:
        return Ref("input", name=parts[1], column=column)
    if root == "steps":
        if len(parts) == 1:
            return Ref("steps", column=column)
        if len(parts) == 3 and parts[2] == "output":
            return Ref("output", step=parts[1], column=column)
        if len(parts) == 4 and parts[2] == "outputs":
            return Ref("outputs", step=parts[1], name=parts[3], column=column)
        if len(parts) == 3 and parts[2] != "outputs":
            return Ref("key", step=parts[1], name=parts[2], column=column)
    raise TemplateError(f"'{path}' is not a valid reference", column=column, hint=_REF_HINT)


_REF_HINT = (
    "use inputs.NAME, steps.ID.output, steps.ID.outputs.KEY or steps; "
    "attribute access, indexing and calls are not allowed"
)

# --------------------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<open>\{\{|\()
  | (?P<close>\}\}|\))
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*)
    """,
    re.VERBOSE,
)
_WORDS = {"and", "or", "not", "true", "false", "null", "none", "True", "False", "None"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # open, close, op, number, string, name, word, end
    value: Any
    column: int


def _tokenize(text: str, offset: int) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = offset + pos + 1
        if m is None:
            ch = text[pos]
            hint = _REF_HINT if ch in "[(.," else "quote strings with ' or \""
            raise TemplateError(f"unexpected '{ch}' at column {col}", column=col, hint=hint)
        kind = m.lastgroup or ""
        raw = m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "number":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "string":
            value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw[1:-1])
        elif kind == "name" and raw in _WORDS:
            kind, value = "word", raw.lower()
        else:
            value = raw
        toks.append(_Tok(kind, value, col))
    toks.append(_Tok("end", None, offset + len(text) + 1))
    return toks


# --------------------------------------------------------------------------- parser

# AST nodes are tuples: ("lit", v) ("ref", Ref) ("not", n) ("and", a, b) ("or", a, b)
# ("cmp", op, a, b). Nesting is bounded so a hostile condition cannot exhaust the stack.
_MAX_DEPTH = 64
_PAIRS = {"(": ")", "{{": "}}"}


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> tuple:
        if self.peek().kind == "end":
            raise TemplateError("empty expression", column=self.peek().column)
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise self.unexpected(tok)
        return node

    def unexpected(self, tok: _Tok) -> TemplateError:
        if tok.kind == "end":
            return TemplateError("the expression ends too early", column=tok.column)
        shown = tok.value if tok.kind != "string" else repr(tok.value)
        return TemplateError(f"unexpected '{shown}' at column {tok.column}", column=tok.column)

    def or_(self) -> tuple:
        node = self.and_()
        while self.peek().kind == "word" and self.peek().value == "or":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.not_()
        while self.peek().kind == "word" and self.peek().value == "and":
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> tuple:
        count = 0
        while self.peek().kind == "word" and self.peek().value == "not":
            self.take()
            count += 1
        node = self.cmp()
        return ("not", node) if count % 2 else (("bool", node) if count else node)

    def cmp(self) -> tuple:
        left = self.primary()
        if self.peek().kind == "op":
            op = self.take().value
            right = self.primary()
            if self.peek().kind == "op":
                tok = self.peek()
                raise TemplateError(
                    f"chained comparison at column {tok.column}",
                    column=tok.column,
                    hint="join comparisons with 'and'",
                )
            return ("cmp", op, left, right)
        return left

    def primary(self) -> tuple:
        tok = self.take()
        if tok.kind == "open":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise TemplateError("expression nested too deeply", column=tok.column)
            node = self.or_()
            close = self.take()
            if close.kind != "close" or close.value != _PAIRS[tok.value]:
                self.i -= 1
                raise TemplateError(
                    f"missing closing bracket for column {tok.column}", column=close.column
                )
            self.depth -= 1
            return node
        if tok.kind in ("number", "string"):
            return ("lit", tok.value)
        if tok.kind == "word" and tok.value in ("true", "false", "null", "none"):
            return ("lit", {"true": True, "false": False}.get(tok.value))
        if tok.kind == "name":
            nxt = self.peek()
            if nxt.kind == "open" and nxt.value == "(":
                raise TemplateError(
                    f"calls are not allowed (column {nxt.column})",
                    column=nxt.column,
                    hint=_REF_HINT,
                )
            return ("ref", parse_ref(tok.value, tok.column))
        self.i -= 1
        raise self.unexpected(tok)


@lru_cache(maxsize=4096)
def parse_expression(text: str, offset: int = 0) -> tuple:
    """Parse one expression (a condition or the inside of `{{ }}`) into a small AST."""
    return _Parser(_tokenize(text, offset)).parse()


# A template part: a literal string, or (expression AST, source column).
_Part = str | tuple[tuple, int]


def template_spans(template: str) -> list[tuple[int, int]]:
    """(start, end) of each `{{ ... }}` in a template, braces included, left to right.

    Each `{{` pairs with the first `}}` after it; an `{{` with no `}}` after it is plain text.
    Linear in the length of the template: each search starts where the last one ended, and
    once no `}}` is left the scan stops, instead of looking for one again from every later
    `{{` (which made `{{ ` written 40,000 times take quadratic time).
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while (start := template.find("{{", pos)) != -1:
        close = template.find("}}", start + 2)
        if close == -1:
            break
        spans.append((start, close + 2))
        pos = close + 2
    return spans


@lru_cache(maxsize=4096)
def parse_template(template: str) -> tuple[_Part, ...]:
    """Split a template into literal text and parsed `{{ }}` expressions."""
    parts: list[_Part] = []
    pos = 0
    for start, end in template_spans(template):
        if start > pos:
            parts.append(template[pos:start])
        parts.append((parse_expression(template[start + 2 : end - 2], start + 2), start + 1))
        pos = end
    if pos < len(template):
        parts.append(template[pos:])
    return tuple(parts)


def _walk_refs(node: tuple, out: list[Ref]) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        tag = n[0]
        if tag == "ref":
            out.append(n[1])
        elif tag in ("not", "bool"):
            stack.append(n[1])
        elif tag in ("and", "or"):
            stack.extend((n[2], n[1]))
        elif tag == "cmp":
            stack.extend((n[3], n[2]))


def references(template: str) -> list[Ref]:
    """Every reference a template makes, in order. Raises TemplateError if it does not parse."""
    out: list[Ref] = []
    for part in parse_template(template):
        if not isinstance(part, str):
            _walk_refs(part[0], out)
    return out


def condition_references(condition: str) -> list[Ref]:
    """Every reference a condition makes. Raises TemplateError if it does not parse."""
    out: list[Ref] = []
    _walk_refs(parse_expression(condition), out)
    return out


# --------------------------------------------------------------------------- evaluation


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
