"""Workflow templates and conditions: a small safe evaluator, never `eval`, never Jinja.

A template is text with `{{ expression }}` parts. An expression is a reference
(`inputs.NAME`, `steps.ID.output`, `steps.ID.outputs.KEY`, the shorthand `steps.ID.KEY`, or
`steps` alone), a literal, or, in conditions, comparisons joined by `and`, `or`, `not` and
parentheses. Nothing else parses: no attribute access beyond those paths, no calls, no
indexing. Values are inserted as text once; model output is never rendered again.

`parser.py` reads templates and conditions into a small AST; `evaluator.py` gives it a value
against a running workflow's `Context`. Import from here.
"""

from paracle_engine.templates.evaluator import (
    Context,
    evaluate,
    evaluate_condition,
    evaluate_value,
    render,
    strings_in,
    to_text,
    truthy,
)
from paracle_engine.templates.parser import (
    Ref,
    TemplateError,
    condition_references,
    parse_expression,
    parse_ref,
    parse_template,
    references,
    template_spans,
)

__all__ = [
    "Context",
    "Ref",
    "TemplateError",
    "condition_references",
    "evaluate",
    "evaluate_condition",
    "evaluate_value",
    "parse_expression",
    "parse_ref",
    "parse_template",
    "references",
    "render",
    "strings_in",
    "template_spans",
    "to_text",
    "truthy",
]
