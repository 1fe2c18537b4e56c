"""Validation is linear in the size of the file: counted work, not a stopwatch.

The template scanner finds `{{` and `}}` with `str.find`. A str subclass counts the characters
each search passes over, so the tests see how much of the text is read, deterministically:
a scanner that looks for `}}` again from every `{{` (as a lazy `\\{\\{(.*?)\\}\\}` regex does,
which made 40,000 `{{ ` take 45 s) reads the text once per `{{` and fails the bounds below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import paracle_engine.workflow.validate as workflow_validate
from paracle_engine.models import AgentSpec, WorkflowSpec
from paracle_engine.templates import TemplateError, parse_template, references
from paracle_engine.workflow.validate import validate_workflow
from paracle_engine.workspace.loader import parse_workflow

AGENTS = {"writer": AgentSpec(id="writer", provider="simulated", model="m")}


class CountingStr(str):
    """A str whose `find` adds up the characters each search goes through."""

    def find(self, sub, start=None, end=None):  # type: ignore[override]
        begin = 0 if start is None else start
        found = super().find(sub, begin) if end is None else super().find(sub, begin, end)
        stop = len(self) if found == -1 else found + len(sub)
        self.scanned = getattr(self, "scanned", 0) + max(0, stop - begin)
        return found


def scanned(text: str) -> int:
    """Characters the template scanner reads to split `text` (uncached)."""
    counted = CountingStr(text)
    parse_template.cache_clear()
    try:
        references(counted)
    except TemplateError:  # the text is scanned before any expression is parsed
        pass
    return getattr(counted, "scanned", 0)


@pytest.mark.parametrize("unit", ["{{ ", "{{", "}} {{ ", "{{ inputs.a }} {{ ", "{ } {{ x"])
def test_the_scan_reads_each_character_a_bounded_number_of_times(unit):
    small, large = unit * 40_000, unit * 80_000
    work_small, work_large = scanned(small), scanned(large)
    # The whole text is looked at, and no character more than twice.
    assert len(small) <= work_small <= 2 * len(small)
    assert len(large) <= work_large <= 2 * len(large)
    # Doubling the text doubles the work (a quadratic scan would make it four times).
    assert work_large <= 2 * work_small + 16


def test_many_closed_expressions_scan_linearly_too():
    unit = "Plan {{ inputs.topic }} then "
    for n in (20_000, 40_000):
        text = unit * n
        assert len(text) <= scanned(text) <= 2 * len(text)


def test_unclosed_braces_stay_text_and_the_first_close_ends_an_expression():
    parts = parse_template("a {{ inputs.x }} b {{ c")
    assert parts[0] == "a " and parts[2] == " b {{ c"
    assert parts[1][1] == 3  # the column of `{{`
    # `{{ {{ inputs.x }}`: the first `{{` takes the first `}}`, so its expression is unclosed.
    with pytest.raises(TemplateError, match="missing closing bracket"):
        references("{{ {{ inputs.x }}")
    assert references("{{ inputs.x }} }}")[0].name == "x"


def test_validating_a_prompt_of_forty_thousand_open_braces_is_linear(tmp_path):
    counts = []
    for n in (40_000, 80_000):
        text = "name: w\nsteps:\n  - id: a\n    agent: writer\n    prompt: |\n      " + "{{ " * n
        spec = parse_workflow(Path(tmp_path / "w.yaml"), text + "\n")
        step = spec.steps[0]
        step.prompt = CountingStr(step.prompt)
        parse_template.cache_clear()
        report = validate_workflow(spec, AGENTS)
        assert report.ok, report.errors
        counts.append((len(step.prompt), step.prompt.scanned))
    (size, work), (size2, work2) = counts
    assert size <= work <= 2 * size and size2 <= work2 <= 2 * size2
    assert work2 <= 2 * work + 16


def test_many_unknown_step_references_compare_names_a_bounded_number_of_times(monkeypatch):
    calls = []
    real = workflow_validate.difflib.get_close_matches

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(workflow_validate.difflib, "get_close_matches", counting)
    steps = [{"id": f"s{i}", "agent": "writer", "prompt": "go"} for i in range(200)]
    for n in (1_000, 2_000):
        calls.clear()
        prompt = " ".join(f"{{{{ steps.ghost{i}.output }}}}" for i in range(n))
        spec = WorkflowSpec(
            name="w", steps=[*steps, {"id": "last", "agent": "writer", "prompt": prompt}]
        )
        report = validate_workflow(spec, AGENTS)
        assert len(report.errors) == n  # every bad reference is still reported
        assert report.errors[0].hint and report.errors[-1].hint.startswith("known steps: s0, s1")
        assert len(calls) <= workflow_validate._MAX_SUGGESTIONS
        # Each hint lists a bounded number of names, so the report grows with the errors only.
        assert max(len(e.one_line()) for e in report.errors) < 400
