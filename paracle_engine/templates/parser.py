"""The template and condition language read into a small AST: references, tokens, grammar.

Nothing else parses: no attribute access beyond the reference paths, no calls, no indexing.
AST nodes are plain tuples (see `parse_expression`); `evaluator.py` gives them a value.
"""

from __future__ import annotations

import re
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
