"""The bundled demo workspace: what a new user sees first must load, validate and ship."""

from __future__ import annotations

import glob
import os
import stat
import tomllib
from pathlib import Path

import pytest

from paracle_engine.errors import BadInputError
from paracle_engine.templates import references
from paracle_engine.workflow.validate import validate_workflow
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace, write_demo

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo():
    return load_workspace(demo_workspace_path())


def test_demo_loads_clean_with_its_agents(demo):
    assert demo.is_demo and demo.root == demo_workspace_path()
    assert demo.warnings == []
    assert list(demo.agents) == ["researcher", "writer", "critic", "senior-writer"]
    for agent in demo.agents.values():
        assert agent.origin == "demo"
        assert (agent.provider, agent.model) == ("anthropic", "claude-sonnet-4.5")
        assert agent.description
        spec_title = f"# {agent.name}\n\n## Role\n\n"
        assert agent.system_prompt.startswith(spec_title), agent.id
        for skill in agent.skills:
            assert demo.skills[skill].body in agent.system_prompt
    assert set(demo.skills) == {"source-evaluation", "plain-language", "structured-critique"}
    assert all(s.description for s in demo.skills.values())


def test_senior_writer_inherits_from_writer(demo):
    writer, senior = demo.agent("writer"), demo.agent("senior-writer")
    assert senior.parent == "writer" and senior.lineage == ["writer"]
    assert senior.skills == [*writer.skills, "structured-critique"]
    assert (senior.temperature, senior.max_tokens) == (0.5, 8192)
    assert (writer.temperature, writer.max_tokens) == (0.7, 4096)


def test_demo_workflows_are_catalogued_and_fully_defaulted(demo):
    assert list(demo.workflows) == ["quick_answer", "research_report"]
    for name, entry in demo.workflows.items():
        assert entry.in_catalog and entry.status == "active" and entry.description
        spec = demo.load_workflow(name)
        assert spec.name == name and spec.warnings == []
        assert spec.inputs and all(i.has_default for i in spec.inputs.values()), name
        assert spec.outputs
        report = validate_workflow(spec, demo.agents)
        assert report.errors == [] and report.warnings == [], name


def test_quick_answer_is_a_two_step_sequence(demo):
    spec = demo.load_workflow("quick_answer")
    assert [(s.id, s.depends_on) for s in spec.steps] == [("draft", []), ("polish", ["draft"])]
    assert "{{ steps.draft.output }}" in spec.step("polish").prompt


def test_research_report_fans_out_and_in(demo):
    spec = demo.load_workflow("research_report")
    deps = {s.id: s.depends_on for s in spec.steps}
    assert deps == {
        "plan": [],
        "background": ["plan"],
        "evidence": ["plan"],
        "risks": ["plan"],
        "synthesize": ["background", "evidence", "risks"],
    }
    assert [s.id for s in spec.steps if s.outputs] == ["plan"]
    assert [s.id for s in spec.steps if s.condition] == ["risks"]
    kinds = {ref.kind for step in spec.steps for ref in references(step.prompt or "")}
    assert {"input", "output", "outputs"} <= kinds
    assert (
        spec.inputs["include_risks"].type == "boolean"
        and spec.inputs["include_risks"].default is True
    )
    assert spec.inputs["length"].default in spec.inputs["length"].enum
    assert spec.outputs["report"].value == "{{ steps.synthesize.output }}"
    assert spec.outputs["angle"].source == "steps.plan.outputs.angle"
    assert spec.settings.parallel_execution.max_concurrent >= 3


def test_write_demo_then_load_it(tmp_path):
    created = write_demo(tmp_path / "project")
    assert created == tmp_path / "project" / ".parac"
    ws = load_workspace(tmp_path / "project")
    assert not ws.is_demo and ws.root == (tmp_path / "project").resolve()
    assert list(ws.agents) == ["researcher", "writer", "critic", "senior-writer"]
    assert all(a.origin == "workspace" for a in ws.agents.values())
    assert list(ws.workflows) == ["quick_answer", "research_report"]
    assert ws.load_workflow("research_report").steps[-1].id == "synthesize"
    for path in created.rglob("*"):
        assert path.name != "__pycache__"
        if path.is_file():
            assert os.stat(path).st_mode & stat.S_IWUSR, path  # the user's copy is editable


def test_write_demo_refuses_an_existing_workspace(tmp_path):
    write_demo(tmp_path)
    manifest = tmp_path / ".parac" / "agents" / "manifest.yaml"
    manifest.write_text("agents: []\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="already exists"):
        write_demo(tmp_path)
    assert manifest.read_text(encoding="utf-8") == "agents: []\n"  # untouched


def test_every_demo_file_is_in_the_wheel_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["paracle_engine"]
    package = REPO / "paracle_engine"
    # setuptools expands package-data patterns with glob(recursive=True) under the package.
    shipped = {
        Path(p) for pattern in patterns for p in glob.glob(str(package / pattern), recursive=True)
    }
    demo_files = [p for p in (demo_workspace_path() / ".parac").rglob("*") if p.is_file()]
    assert len(demo_files) >= 11
    missing = [str(p.relative_to(package)) for p in demo_files if p not in shipped]
    assert missing == []
