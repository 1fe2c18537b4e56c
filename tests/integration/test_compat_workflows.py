"""Every workflow of the real Paracle corpus runs to `completed` or is refused precisely.

Runs `paracle --provider simulated workflow run NAME --json --approve-all` as a subprocess,
with the corpus's required inputs supplied, and checks templates, conditions and outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from paracle_engine.workflow import validate_workflow
from paracle_engine.workspace.loader import load_workspace

ROOT = Path(__file__).resolve().parents[2]
# Vendored: tests/fixtures/README.md says where it came from.
CORPUS = ROOT / "tests" / "fixtures" / "compat" / "paracle-1.0"
PARACLE = [sys.executable, "-m", "paracle_tui.cli"]

UNKNOWN_AGENTS = {
    "hello_world": ("templates/hello_world.yaml", 27, "greeter"),
    "test_ollama": ("definitions/test_ollama.yaml", 22, "assistant"),
    "test_openai_workflow": ("definitions/test_openai_workflow.yaml", 7, "greeter"),
}
KNOWN_IDS = "architect, coder, documenter, pm, releasemanager, reviewer, security, tester"


def _workspace():
    if not CORPUS.is_dir():
        pytest.fail(f"the Paracle corpus is not at {CORPUS}")
    return load_workspace(CORPUS)


def _runnable() -> list[str]:
    if not CORPUS.is_dir():
        return ["corpus-missing"]
    ws = load_workspace(CORPUS)
    return [n for n, e in ws.workflows.items() if e.error is None and n not in UNKNOWN_AGENTS]


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # No pause between simulated chunks: the corpus runs in seconds.
    (home / "config.toml").write_text("simulated_pace = 0\n")
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e["PARACLE_HOME"] = str(home)
    e["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return e


def paracle(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARACLE, "--workspace", str(CORPUS), *args],
        env=env,
        cwd=CORPUS,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def required_inputs(spec: Any) -> list[str]:
    """`--input` flags for the inputs a workflow requires and does not default."""
    flags = []
    for name, decl in spec.inputs.items():
        if not decl.required or decl.has_default:
            continue
        if decl.enum:
            value: Any = decl.enum[0]
        else:
            value = {"array": ["src/app.py"], "boolean": False, "integer": 1, "number": 1}.get(
                decl.type, f"example {name}"
            )
        flags += ["--input", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
    return flags


def run_json(name: str, env: dict, *extra: str) -> dict[str, Any]:
    spec = _workspace().load_workflow(name)
    out = paracle(
        "--provider",
        "simulated",
        "workflow",
        "run",
        name,
        "--json",
        "--approve-all",
        *required_inputs(spec),
        *extra,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", _runnable())
def test_corpus_workflow_validates_and_runs_to_completed(name, env):
    ws = _workspace()
    spec = ws.load_workflow(name)
    report = validate_workflow(spec, ws.agents)
    assert report.ok, [e.one_line() for e in report.errors]

    data = run_json(name, env)
    assert data["status"] == "completed"
    assert list(data["steps"]) == [s.id for s in spec.steps]
    for sid, step in data["steps"].items():
        assert step["status"] in ("completed", "skipped"), (sid, step)
        if step["status"] == "completed":
            assert step["attempts"] == 1 and step["output"].startswith("## Simulated answer")
            # Templates were resolved before the agent saw its prompt.
            assert "{{" not in step["output"]
    for key, value in data["outputs"].items():
        assert "{{" not in json.dumps(value), key
    assert set(data["outputs"]) == set(spec.outputs)


def test_a_condition_skips_a_step_and_its_references_render_empty(env):
    data = run_json("paracle_build", env, "--input", "skip_tests=true")
    steps = data["steps"]
    assert steps["test_design"]["status"] == "skipped"
    # A skipped step counts as done: the review that depends on it still runs.
    assert steps["code_review"]["status"] == "completed"
    assert data["outputs"]["test_coverage"] == ""
    assert data["outputs"]["summary"].startswith("Simulated completion summary")

    data = run_json("release", env, "--input", "dry_run=true")
    steps = data["steps"]
    assert steps["publish_pypi"]["status"] == "skipped"
    assert steps["create_github_release"]["status"] == "skipped"
    assert steps["update_governance"]["status"] == "completed"
    assert data["outputs"]["pypi_url"] == "" and data["outputs"]["release_url"] == ""
    assert data["outputs"]["release_version"].startswith("Simulated new version")


@pytest.mark.parametrize("name", sorted(UNKNOWN_AGENTS))
def test_workflows_naming_unknown_agents_are_refused(name, env):
    file, line, agent = UNKNOWN_AGENTS[name]
    for action in ("validate", "run"):
        out = paracle("--provider", "simulated", "workflow", action, name, env=env)
        assert out.returncode == 2, out.stderr
        first = out.stderr.splitlines()[0]
        assert first.startswith(f".parac/workflows/{file}:{line}: ")
        assert f"unknown agent '{agent}'" in first and KNOWN_IDS in first


def test_a_catalog_entry_without_its_file_is_refused(env):
    out = paracle("workflow", "validate", "documentation_generator", env=env)
    assert out.returncode == 2
    assert "catalog.yaml:91" in out.stderr and "does not exist" in out.stderr
