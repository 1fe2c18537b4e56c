"""Validation: every error at once, each with file, line, cause and a fix."""

from __future__ import annotations

import random

from support.workflows import make_agents, make_spec

from paracle_engine.workflow import topological_order, validate_workflow

AGENTS = make_agents("worker", "coder", "reviewer")


def lines(steps_with_lines):
    """Give each step field_lines as a loader would: {field: line}."""
    out = []
    for step, fl in steps_with_lines:
        out.append({**step, "field_lines": fl})
    return out


def test_a_good_workflow_has_no_errors():
    spec = make_spec(
        [
            {"id": "a", "outputs": ["plan"], "prompt": "Plan {{ inputs.topic }}"},
            {"id": "b", "depends_on": ["a"], "inputs": {"p": "{{ steps.a.outputs.plan }}"}},
            {
                "id": "c",
                "depends_on": ["b"],
                "condition": "{{ steps.a.plan != '' }}",
                "prompt": "{{ steps.a.output }} {{ steps }}",
            },
        ],
        inputs={"topic": {"type": "string", "default": "x", "has_default": True}},
        outputs={
            "plan": {"source": "steps.a.outputs.plan"},
            "all": {"value": "{{ steps.c.output }}"},
        },
    )
    report = validate_workflow(spec, AGENTS)
    assert report.ok, [e.one_line() for e in report.errors]


def test_unknown_agent_names_the_agent_the_known_ids_and_the_line():
    spec = make_spec(lines([({"id": "a", "agent": "greeter"}, {"id": 3, "agent": 4})]))
    report = validate_workflow(spec, AGENTS)
    [err] = report.errors
    assert (err.file, err.line) == ("wf.yaml", 4)
    assert "unknown agent 'greeter'" in err.cause
    assert "coder, reviewer, worker" in err.hint
    assert err.one_line().startswith("wf.yaml:4: step 'a' uses unknown agent 'greeter' (")


def test_every_error_is_reported_at_once():
    spec = make_spec(
        lines(
            [
                ({"id": "a", "depends_on": ["ghost"]}, {"id": 2, "depends_on": 3}),
                ({"id": "a"}, {"id": 5}),
                ({"id": "b", "agent": "nobody"}, {"id": 7, "agent": 8}),
                (
                    {"id": "c", "prompt": "{{ inputs.missing }}", "condition": "x ==="},
                    {"id": 10, "prompt": 11, "condition": 12},
                ),
            ]
        )
    )
    report = validate_workflow(spec, AGENTS)
    causes = [e.cause for e in report.errors]
    assert len(report.errors) == 5, causes
    assert any("depends on unknown step 'ghost'" in c for c in causes)
    assert any(c.startswith("duplicate step id 'a' (first defined at line 2)") for c in causes)
    assert any("unknown agent 'nobody'" in c for c in causes)
    assert any("uses unknown input 'missing'" in c for c in causes)
    assert any("bad condition" in c for c in causes)
    assert sorted(e.line for e in report.errors) == [3, 5, 8, 11, 12]
    assert all(e.file == "wf.yaml" and e.hint for e in report.errors)


def test_a_cycle_is_reported_with_its_path():
    spec = make_spec(
        lines(
            [
                ({"id": "a", "depends_on": ["c"]}, {"depends_on": 3}),
                ({"id": "b", "depends_on": ["a"]}, {"depends_on": 6}),
                ({"id": "c", "depends_on": ["b"]}, {"depends_on": 9}),
                ({"id": "d", "depends_on": ["c"]}, {"depends_on": 12}),
                ({"id": "self", "depends_on": ["self"]}, {"depends_on": 15}),
            ]
        )
    )
    report = validate_workflow(spec, AGENTS)
    causes = sorted(e.cause for e in report.errors)
    assert len(causes) == 2
    assert "a cycle: a -> c -> b -> a" in causes[0]
    assert "a cycle: self -> self" in causes[1]
    assert sorted(e.line for e in report.errors) == [3, 15]


def test_references_must_name_ancestors_and_declared_outputs():
    spec = make_spec(
        lines(
            [
                ({"id": "a", "outputs": ["plan"]}, {}),
                ({"id": "b", "prompt": "{{ steps.a.outputs.plan }}"}, {"prompt": 5}),
                (
                    {
                        "id": "c",
                        "depends_on": ["a"],
                        "inputs": {"x": "{{ steps.a.outputs.nope }}", "y": ["{{ steps.a.other }}"]},
                    },
                    {"inputs": 8, "inputs.y": 9},
                ),
                (
                    {
                        "id": "d",
                        "depends_on": ["a"],
                        "prompt": "{{ steps.d.output }} {{ steps.zz.output }}",
                    },
                    {"prompt": 12},
                ),
            ]
        ),
        outputs={"o": {"source": "steps.a.outputs.missing"}},
    )
    report = validate_workflow(spec, AGENTS)
    by_line = sorted((e.line, e.cause) for e in report.errors)
    causes = [c for _, c in by_line]
    assert len(causes) == 6, causes

    def line_of(fragment):
        return next(line for line, cause in by_line if fragment in cause)

    assert line_of("'a' is not a dependency of 'b'") == 5
    assert line_of("declares no output 'nope' (its outputs: plan)") == 8
    assert line_of("uses steps.a.other") == 9
    assert line_of("output 'o' uses steps.a.outputs.missing") == 1
    assert any("'d' is not a dependency of 'd'" in c for c in causes)
    assert any("unknown step 'zz'" in c for c in causes)
    assert any(
        c.startswith("workflow outputs: output 'o' uses steps.a.outputs.missing") for c in causes
    )
    hints = " ".join(e.hint for e in report.errors)
    assert "add 'a' to depends_on of 'b'" in hints


def test_bad_template_syntax_names_the_field():
    spec = make_spec(
        lines([({"id": "a", "prompt": "Use {{ inputs.x.upper() }}"}, {"prompt": 4})]),
        inputs={"x": {"type": "string"}},
    )
    [err] = validate_workflow(spec, AGENTS).errors
    assert err.line == 4 and "bad template in prompt" in err.cause and "not allowed" in err.cause


def test_warnings_come_from_the_spec_and_from_validation():
    spec = make_spec(
        [{"id": "a"}],
        inputs={"x": {"type": "path"}},
        warnings=["on_failure: rollback is not implemented; using fail_fast"],
    )
    report = validate_workflow(spec, AGENTS)
    assert report.ok
    assert any("type 'path'" in w for w in report.warnings)
    assert any("rollback" in w for w in report.warnings)


def test_a_ten_thousand_step_chain_in_any_order_validates():
    n = 10_000
    steps = [
        {
            "id": f"s{i}",
            "depends_on": [f"s{i - 1}"] if i else [],
            "prompt": f"{{{{ steps.s{i - 1}.output }}}}" if i else "go",
        }
        for i in range(n)
    ]
    random.Random(3).shuffle(steps)
    spec = make_spec(steps)
    assert validate_workflow(spec, AGENTS).ok
    # A reference to a far ancestor still counts as an ancestor.
    steps.append({"id": "last", "depends_on": [f"s{n - 1}"], "prompt": "{{ steps.s0.output }}"})
    steps.append({"id": "loop", "depends_on": ["loop2"]})
    steps.append({"id": "loop2", "depends_on": ["loop"]})
    report = validate_workflow(make_spec(steps), AGENTS)
    assert [e.cause for e in report.errors] == [
        "steps depend on each other in a cycle: loop -> loop2 -> loop"
    ]


def test_topological_order_puts_dependencies_first_and_leaves_out_cycles() -> None:
    deps = {"c": ["a", "b"], "b": ["a", "outside"], "x": ["y"], "y": ["x"], "z": ["x"]}
    assert topological_order(["c", "b", "a", "x", "y", "z"], deps) == ["a", "b", "c"]
    assert topological_order([3, 1, 2], {3: [1, 1]}) == [1, 2, 3]
