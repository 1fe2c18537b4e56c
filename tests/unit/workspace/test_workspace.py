"""The `.parac/` loader: the real Paracle corpus, inheritance, prompts, catalog, parsing, errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from paracle_engine.errors import BadInputError, WorkspaceError
from paracle_engine.workspace.loader import (
    find_workspace,
    load_workspace,
    parse_workflow,
    prompt_from_spec,
)

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "compat" / "paracle-1.0"
PARAC = CORPUS / ".parac"
WORKFLOW_FILES = sorted((PARAC / "workflows").glob("*/*.yaml"))


@pytest.fixture(scope="module")
def corpus():
    assert PARAC.is_dir(), f"the Paracle corpus is expected at {CORPUS.resolve()}"
    return load_workspace(CORPUS)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


# --------------------------------------------------------------------------- corpus agents


def test_every_corpus_agent_loads_with_defaults_and_metadata(corpus):
    ids = [
        "architect",
        "coder",
        "reviewer",
        "tester",
        "pm",
        "documenter",
        "releasemanager",
        "security",
    ]
    assert list(corpus.agents) == ids
    for agent in corpus.agents.values():
        assert (agent.provider, agent.model, agent.temperature, agent.max_tokens) == (
            "anthropic",
            "claude-sonnet-4.5",
            0.7,
            4096,
        )
        assert agent.origin == "workspace" and agent.lineage == [] and agent.parent is None
        assert agent.metadata["framework"] == "github_copilot"  # an unknown default is kept
        assert agent.metadata["responsibilities"]
        assert agent.source.line == line_of(PARAC / "agents/manifest.yaml", f"- id: {agent.id}")
    coder = corpus.agent("coder")
    assert coder.name == "Core Developer"
    assert coder.metadata["role"] == "implementation"
    assert coder.tools[:3] == ["code_generation", "refactoring", "testing"]
    assert coder.skills == [
        "paracle-development",
        "api-development",
        "tool-integration",
        "provider-integration",
        "testing-qa",
    ]
    assert "ISO_27001" in corpus.agent("security").metadata["standards"]
    assert not corpus.is_demo


def test_coder_prompt_is_spec_title_role_rest_then_skill_bodies(corpus):
    prompt = corpus.agent("coder").system_prompt
    assert prompt.startswith(
        "# Coder Agent\n\n## Role\n\nImplementation of features, writing production-quality code"
    )
    assert "## Governance Integration" in prompt
    skill_body = corpus.skills["testing-qa"].body
    assert skill_body.startswith("# Testing & Quality Assurance Skill")
    assert skill_body in prompt
    # The spec comes before the skills, and skills follow the manifest's order.
    spec_at = prompt.index("## Governance Integration")
    positions = [prompt.index(corpus.skills[name].body) for name in corpus.agent("coder").skills]
    assert spec_at < positions[0] and positions == sorted(positions)
    # Front matter is not part of a skill body.
    assert "allowed-tools:" not in prompt and "compatibility: pytest" not in prompt


def test_every_corpus_prompt_has_its_spec_and_all_its_skills(corpus):
    for agent in corpus.agents.values():
        spec = (PARAC / "agents" / agent.spec_file).read_text(encoding="utf-8")
        title = next(line for line in spec.splitlines() if line.startswith("# "))
        assert agent.system_prompt.startswith(title + "\n\n## Role\n\n"), agent.id
        for skill in agent.skills:
            assert corpus.skills[skill].body in agent.system_prompt, (agent.id, skill)


def test_corpus_skills_are_read_with_front_matter(corpus):
    assert len(corpus.skills) == 15
    skill = corpus.skills["testing-qa"]
    assert skill.name == "testing-qa"
    assert skill.description.startswith("Write comprehensive tests (unit, integration, e2e)")
    assert skill.metadata["license"] == "Apache-2.0"
    assert skill.metadata["metadata"]["category"] == "validation"
    assert skill.file == PARAC / "agents/skills/testing-qa/SKILL.md"


def test_corpus_loads_with_one_warning_for_the_missing_catalog_file(corpus):
    assert len(corpus.warnings) == 1
    assert "documentation_generator" in corpus.warnings[0]
    assert "templates/documentation.yaml" in corpus.warnings[0]


# --------------------------------------------------------------------------- corpus workflows


def test_catalog_entries_then_uncatalogued_files(corpus):
    assert list(corpus.workflows) == [
        "feature_development",
        "bugfix",
        "refactoring",
        "paracle_build",
        "code_review",
        "documentation",
        "documentation_generator",
        "release",
        "hello_world",
        "git_commit",
        "test_ollama",
        "test_openai_workflow",
    ]
    bugfix = corpus.workflows["bugfix"]
    assert bugfix.file == PARAC / "workflows/definitions/bugfix.yaml"
    assert (bugfix.category, bugfix.status, bugfix.tags) == (
        "development",
        "active",
        ["bugfix", "hotfix", "maintenance"],
    )
    assert bugfix.description.startswith("Streamlined bugfix workflow for production issues.\n")
    assert bugfix.in_catalog and bugfix.error is None
    extra = corpus.workflows["git_commit"]
    assert not extra.in_catalog and extra.status == "active"
    assert extra.description == "Automated git commit workflow with releasemanager agent"
    assert corpus.workflows["hello_world"].file == PARAC / "workflows/templates/hello_world.yaml"


def test_catalog_entry_with_a_missing_file_is_listed_and_refused_precisely(corpus):
    entry = corpus.workflows["documentation_generator"]
    assert entry.status == "missing"
    assert "templates/documentation.yaml" in entry.error
    with pytest.raises(WorkspaceError) as caught:
        corpus.load_workflow("documentation_generator")
    assert caught.value.file.endswith("catalog.yaml")
    assert caught.value.line == line_of(
        PARAC / "workflows/catalog.yaml", "- name: documentation_generator"
    )


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_every_corpus_workflow_parses_with_exact_lines(path):
    spec = parse_workflow(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    raw_ids = [
        m.group(1) for m in re.finditer(r'^  - id: "?(\w+)"?', path.read_text(), re.MULTILINE)
    ]
    assert [s.id for s in spec.steps] == raw_ids
    plain = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [s.depends_on for s in spec.steps] == [r.get("depends_on", []) for r in plain["steps"]]
    assert [s.agent for s in spec.steps] == [r["agent"] for r in plain["steps"]]
    assert spec.source.file.endswith(path.name) and spec.source.line == 1
    for step in spec.steps:
        assert re.match(r'\s*- id: "?' + step.id, lines[step.source.line - 1])
        for field, number in step.field_lines.items():
            key = field.split(".")[-1]
            text = lines[number - 1].strip().removeprefix("- ")
            assert text.startswith(f"{key}:"), (step.id, field, text)
        assert set(step.field_lines) >= {"id", "agent"}
    for key, number in spec.field_lines.items():
        assert lines[number - 1].strip().startswith(key.split(".")[-1] + ":"), key


def test_code_review_parses_dag_outputs_and_settings(corpus):
    spec = corpus.load_workflow("code_review")
    deps = {s.id: s.depends_on for s in spec.steps}
    assert deps == {
        "static_analysis": [],
        "security_check": ["static_analysis"],
        "code_quality": ["static_analysis"],
        "test_coverage": ["static_analysis"],
        "performance_check": ["code_quality"],
        "final_verdict": ["security_check", "code_quality", "test_coverage", "performance_check"],
    }
    static = spec.step("static_analysis")
    assert static.outputs == ["lint_results", "typecheck_results", "syntax_errors"]
    assert static.config.model == "gpt-4" and static.config.temperature == 0.1
    assert static.inputs == {"changed_files": "{{ inputs.changed_files }}"}
    assert static.model_extra["tools"] == [{"name": "run_lint"}, {"name": "run_typecheck"}]
    assert "step 'static_analysis': `tools` are kept but not acted on yet" in spec.warnings
    assert spec.step("final_verdict").requires_approval is False  # must_approve: false
    assert spec.outputs["review_verdict"].value == "{{ steps.final_verdict.outputs.verdict }}"
    assert spec.settings.timeout == 900
    assert spec.inputs["changed_files"].required and not spec.inputs["changed_files"].has_default
    assert spec.inputs["review_depth"].enum == ["quick", "standard", "thorough"]
    assert spec.inputs["review_depth"].default == "standard"
    assert spec.metadata["author"] == "Paracle Team"
    path = PARAC / "workflows/definitions/code_review.yaml"
    assert spec.field_lines["outputs.review_verdict"] == line_of(path, "review_verdict:")


def test_validation_forms_become_approval_or_warnings(corpus):
    bugfix = corpus.load_workflow("bugfix")
    assert bugfix.step("review").requires_approval is True
    assert bugfix.step("test_fix").requires_approval is False
    assert bugfix.step("test_fix").validation == {"must_pass": True, "on_fail": "abort"}
    assert any("step 'test_fix'" in w and "`validation.must_pass`" in w for w in bugfix.warnings)
    assert (
        bugfix.inputs["affected_files"].has_default
        and bugfix.inputs["affected_files"].default == []
    )
    assert not bugfix.inputs["issue_number"].has_default
    # config.retry.max_attempts: 2 means one retry.
    assert (
        bugfix.settings.timeout,
        bugfix.settings.max_retries,
        bugfix.settings.retry_on_failure,
    ) == (
        1800,
        1,
        True,
    )
    release = corpus.load_workflow("release")
    assert (
        release.inputs["release_notes"].has_default
        and release.inputs["release_notes"].default == ""
    )
    assert release.step("publish_pypi").condition == "{{ inputs.dry_run == false }}"
    assert release.step("validate_readiness").config.system_prompt.startswith(
        "You are the Release Manager"
    )
    assert any(
        "config:" in w and "`notifications`" in w and "`retry.backoff`" in w
        for w in release.warnings
    )


def test_on_failure_mapping_is_fail_fast_with_a_warning_naming_the_action(corpus):
    spec = corpus.load_workflow("git_commit")
    assert spec.on_failure == "fail_fast"
    warning = next(w for w in spec.warnings if w.startswith("on_failure:"))
    assert "`rollback`" in warning and "fail_fast" in warning
    assert spec.model_extra["on_failure_spec"] == {"action": "rollback", "notify": True}
    # Bare template strings as workflow outputs.
    assert spec.outputs["status"].value == "{{ steps.check_status.status_result }}"
    assert spec.step("check_status").model_extra["tool"] == "git_status"
    assert spec.model_extra["id"] == "git_commit_workflow"
    build = corpus.load_workflow("paracle_build")
    assert build.on_failure == "fail_fast"
    assert any("`rollback`, `notify`, `cleanup` are not implemented" in w for w in build.warnings)


def test_paracle_build_keeps_settings_and_steps_shorthand(corpus):
    spec = corpus.load_workflow("paracle_build")
    s = spec.settings
    assert (s.timeout, s.retry_on_failure, s.max_retries) == (3600, True, 2)
    assert (s.parallel_execution.enabled, s.parallel_execution.max_concurrent) == (False, 2)
    assert s.model_extra["audit"]["enabled"] is True
    assert any(
        w.startswith("settings:") and "`audit`" in w and "`notifications`" in w
        for w in spec.warnings
    )
    assert any(w.startswith("workflow:") and "`on_success`" in w for w in spec.warnings)
    final = spec.step("final_summary")
    assert final.inputs["all_outputs"] == "{{ steps }}"
    assert final.model_extra["skills"] == ["workflow-orchestration", "paracle-development"]
    assert spec.step("test_design").condition == "{{ inputs.skip_tests == false }}"
    assert spec.outputs["summary"].source == "steps.final_summary.outputs.completion_summary"


def test_step_level_provider_and_model_fold_into_config(corpus):
    spec = corpus.load_workflow("test_openai_workflow")
    step = spec.step("generate_greeting")
    assert (step.config.provider, step.config.model) == ("openai", "gpt-4")
    assert step.field_lines["config.provider"] == step.field_lines["provider"]
    assert step.model_extra["output_key"] == "greeting"
    assert "step 'generate_greeting': `output_key` is kept but not acted on yet" in spec.warnings
    assert spec.step("analyze_greeting").depends_on == ["generate_greeting"]


def test_hello_world_template_and_settings(corpus):
    spec = corpus.load_workflow("hello_world")
    assert [s.agent for s in spec.steps] == ["greeter", "formatter"]
    assert (spec.settings.timeout, spec.settings.max_retries, spec.settings.retry_on_failure) == (
        60,
        2,
        True,
    )
    assert spec.inputs["name"].has_default and spec.inputs["name"].default == "World"
    assert spec.outputs["final_greeting"].source == "steps.step_2.outputs.formatted_greeting"


def test_load_workflow_by_stem_path_and_unknown_name(corpus, tmp_path):
    path = PARAC / "workflows/definitions/bugfix.yaml"
    assert corpus.load_workflow(str(path)).name == "bugfix"
    assert corpus.load_workflow("definitions/bugfix.yaml").name == "bugfix"
    own = write(tmp_path, "mine.yaml", "name: mine\nsteps:\n  - name: only\n    agent: coder\n")
    spec = corpus.load_workflow(str(own))
    assert spec.steps[0].id == "only" and spec.steps[0].name == "only"
    with pytest.raises(BadInputError) as caught:
        corpus.load_workflow("nope")
    assert "unknown workflow 'nope' (known: feature_development, bugfix," in str(caught.value)


def test_unknown_agent_lists_the_known_ones(corpus):
    with pytest.raises(BadInputError) as caught:
        corpus.agent("ghost")
    assert str(caught.value) == (
        "unknown agent 'ghost' (known: architect, coder, reviewer, tester, pm, documenter, releasemanager, security)"
    )


# --------------------------------------------------------------------------- parse errors


def test_bad_yaml_names_file_line_column_and_cause(tmp_path):
    path = write(
        tmp_path,
        "broken.yaml",
        """
        name: broken
        steps:
          - id: a
            agent: coder
             prompt: "misindented"
        """,
    )
    with pytest.raises(WorkspaceError) as caught:
        parse_workflow(path)
    err = caught.value
    assert err.file == str(path) and err.line == 5 and err.column is not None
    assert str(err).startswith(f"{path}:5:{err.column}: bad YAML: ")
    assert "mapping values are not allowed" in err.message and err.hint


def test_parse_workflow_from_text_with_a_display_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = parse_workflow(tmp_path / "wf" / "x.yaml", "steps:\n  - id: a\n    agent: b\n")
    assert spec.name == "x"  # the file stem when `name` is absent
    assert spec.source.file == str(Path("wf") / "x.yaml")
    assert spec.steps[0].source.line == 2 and spec.steps[0].field_lines == {"id": 2, "agent": 3}


@pytest.mark.parametrize(
    ("text", "line", "cause"),
    [
        ("- just\n- a list\n", 1, "must be a mapping"),
        ("name: x\n", None, "has no `steps`"),
        ("name: x\nsteps: {a: 1}\n", 2, "`steps` must be a list"),
        ("name: x\nsteps:\n  - agent: coder\n", 3, "step 1 has no `id` or `name`"),
        (
            "name: x\nsteps:\n  - id: a\n    depends_on: {b: 1}\n",
            4,
            "step 'a': `depends_on` must be a list",
        ),
        ("name: x\nsteps:\n  - id: a\n    prompt: [1, 2]\n", 4, "step 'a': `prompt` must be text"),
        (
            "name: x\nsteps:\n  - id: a\n    inputs: [1]\n",
            4,
            "step 'a': `inputs` must be a mapping",
        ),
        ("name: x\nsteps:\n  - id: a\n    timeout: soon\n", 4, "step 'a': `timeout`"),
        ("name: x\nsteps: []\noutputs:\n  r: 3\n", 4, "output 'r' must be"),
        ("name: x\nsteps: []\nsettings:\n  timeout: never\n", 4, "settings: `timeout`"),
        ("name: x\nsteps: []\ninputs:\n  a:\n    enum: 3\n", 5, "input 'a': `enum`"),
    ],
)
def test_shape_errors_name_the_line(tmp_path, text, line, cause):
    path = write(tmp_path, "wf.yaml", text)
    with pytest.raises(WorkspaceError) as caught:
        parse_workflow(path)
    assert caught.value.line == line
    assert cause in caught.value.message


def test_forms_are_normalised(tmp_path):
    path = write(
        tmp_path,
        "wf.yaml",
        """
        name: forms
        inputs:
          plain: hello
          empty:
          nothing: {default: null}
        steps:
          - id: 7
            depends_on: other
            outputs: {summary: the summary}
            condition: false
            retry: 3
            validation: {must_approve: true}
            config: {model: m, seed: 4}
        settings:
          max_retries: 2
          parallel_execution: false
        on_failure: continue
        outputs:
          ref: steps.7.outputs.summary
          literal: done
        """,
    )
    spec = parse_workflow(path)
    step = spec.steps[0]
    assert step.id == "7" and step.depends_on == ["other"] and step.outputs == ["summary"]
    assert step.condition == "false" and step.retry.max_attempts == 3 and step.requires_approval
    assert step.config.model == "m" and step.config.model_extra == {"seed": 4}
    assert "step '7': `config.seed` is kept but not acted on yet" in spec.warnings
    assert spec.inputs["plain"].default == "hello" and spec.inputs["plain"].has_default
    assert not spec.inputs["empty"].has_default
    assert spec.inputs["nothing"].has_default and spec.inputs["nothing"].default is None
    assert spec.settings.retry_on_failure and not spec.settings.parallel_execution.enabled
    assert spec.on_failure == "continue"
    assert spec.outputs["ref"].source == "steps.7.outputs.summary"
    assert spec.outputs["literal"].value == "done"


# --------------------------------------------------------------------------- inheritance


def workspace_with(tmp_path: Path, agents_yaml: str) -> Path:
    write(tmp_path, ".parac/agents/manifest.yaml", agents_yaml)
    return tmp_path


def test_inheritance_overrides_scalars_and_adds_tools_and_skills(tmp_path):
    write(tmp_path, ".parac/agents/specs/base.md", "# Base\n\n## Role\n\nBuilds things.\n")
    write(
        tmp_path,
        ".parac/agents/skills/s1/SKILL.md",
        "---\nname: s1\ndescription: one\n---\nSkill one body.\n",
    )
    write(tmp_path, ".parac/agents/skills/s2/SKILL.md", "Skill two, no front matter.\n")
    workspace_with(
        tmp_path,
        """
        defaults: {provider: anthropic, model: claude-sonnet-4.5, temperature: 0.7, team: core}
        agents:
          - id: base
            name: Base
            description: the base
            spec_file: specs/base.md
            tools: [read, write]
            skills: [s1]
            focus: broad
          - id: child
            parent: base
            model: claude-opus-4
            temperature: 0.2
            tools: [write, run]
            skills: [s2, s1]
            focus: narrow
          - id: grandchild
            parent: child
            name: Grandchild
            system_prompt: Only this.
        """,
    )
    ws = load_workspace(tmp_path)
    child = ws.agent("child")
    assert child.parent == "base" and child.lineage == ["base"]
    assert (child.name, child.description, child.provider, child.model, child.temperature) == (
        "Base",
        "the base",
        "anthropic",
        "claude-opus-4",
        0.2,
    )
    assert child.tools == ["read", "write", "run"] and child.skills == ["s1", "s2"]
    assert child.metadata == {"team": "core", "focus": "narrow"}
    assert (
        child.system_prompt
        == "# Base\n\n## Role\n\nBuilds things.\n\nSkill one body.\n\nSkill two, no front matter."
    )
    grand = ws.agent("grandchild")
    assert grand.lineage == ["child", "base"] and grand.parent == "child"
    assert grand.model == "claude-opus-4" and grand.tools == ["read", "write", "run"]
    assert grand.system_prompt == "Only this."
    assert ws.agent("base").parent is None and ws.agent("base").tools == ["read", "write"]
    assert ws.warnings == []


def test_inheritance_cycle_is_an_error_naming_the_chain(tmp_path):
    workspace_with(
        tmp_path,
        """
        agents:
          - id: a
            parent: c
          - id: b
            parent: a
          - id: c
            parent: b
        """,
    )
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(tmp_path)
    assert "agent inheritance cycle: a -> c -> b -> a" in caught.value.message
    assert caught.value.file.endswith("manifest.yaml") and caught.value.line == 5  # b's parent


def test_inheritance_deeper_than_five_is_an_error(tmp_path):
    chain = ["a0:"] + [f"a{i}: a{i - 1}" for i in range(1, 7)]
    agents = "\n".join(
        f"  - id: {c.split(':')[0]}" + (f"\n    parent: {c.split(': ')[1]}" if ": " in c else "")
        for c in chain
    )
    workspace_with(tmp_path, "agents:\n" + agents + "\n")
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(tmp_path)
    assert (
        "agent 'a6' inherits through 6 levels (a6 -> a5 -> a4 -> a3 -> a2 -> a1 -> a0)"
        in caught.value.message
    )
    assert "at most 5" in caught.value.message
    # Five levels is allowed.
    workspace_with(tmp_path, "agents:\n" + agents.rsplit("\n  - id: a6", 1)[0] + "\n")
    assert load_workspace(tmp_path).agent("a5").lineage == ["a4", "a3", "a2", "a1", "a0"]


def test_unknown_parent_names_file_and_line(tmp_path):
    workspace_with(tmp_path, "agents:\n  - id: a\n  - id: b\n    name: B\n    parent: ghost\n")
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(tmp_path)
    err = caught.value
    assert err.line == 5 and err.file.endswith(str(Path(".parac/agents/manifest.yaml")))
    assert "agent 'b' has unknown parent 'ghost' (known: a, b)" in err.message


def test_manifest_errors_are_precise(tmp_path):
    workspace_with(tmp_path, "agents:\n  - id: a\n  - id: a\n")
    with pytest.raises(WorkspaceError, match="agent 'a' is defined twice") as caught:
        load_workspace(tmp_path)
    assert caught.value.line == 3
    workspace_with(tmp_path, "agents:\n  - id: a\n    temperature: warm\n")
    with pytest.raises(WorkspaceError, match="agent 'a': `temperature`") as caught:
        load_workspace(tmp_path)
    assert caught.value.line == 3
    workspace_with(tmp_path, "agents:\n  - id: a\n   name: x\n")
    with pytest.raises(WorkspaceError, match="bad YAML") as caught:
        load_workspace(tmp_path)
    assert caught.value.line == 3


def test_missing_spec_and_skill_are_warnings_not_failures(tmp_path):
    workspace_with(
        tmp_path,
        """
        agents:
          - id: lonely
            name: Lonely
            description: Works alone
            spec_file: specs/lonely.md
            skills: [absent]
        """,
    )
    ws = load_workspace(tmp_path)
    assert ws.agent("lonely").system_prompt == "You are Lonely. Works alone"
    assert len(ws.warnings) == 2
    assert "spec file" in ws.warnings[0] and "lonely.md" in ws.warnings[0]
    assert "skill 'absent' not found" in ws.warnings[1]


def test_spec_without_spec_file_is_found_by_id(tmp_path):
    write(tmp_path, ".parac/agents/specs/helper.md", "# Helper\n\n## Role\n\nHelps.\n")
    workspace_with(tmp_path, "agents:\n  - id: helper\n")
    assert load_workspace(tmp_path).agent("helper").system_prompt == "# Helper\n\n## Role\n\nHelps."


def test_prompt_puts_title_and_role_first_and_ignores_headings_in_code():
    spec = textwrap.dedent(
        """
        Intro before the title.

        # Planner

        ## Tools

        ```bash
        # a comment, not a heading
        ## Role (also not a heading)
        ```

        ## Role

        Plans the work.

        ### Detail

        Part of the role.

        ## Output

        A plan.
        """
    )
    prompt = prompt_from_spec(spec)
    assert prompt.startswith(
        "# Planner\n\n## Role\n\nPlans the work.\n\n### Detail\n\nPart of the role.\n\n"
    )
    rest = prompt.split("Part of the role.", 1)[1]
    assert rest.index("Intro before the title.") < rest.index("## Tools") < rest.index("## Output")
    assert "# a comment, not a heading\n## Role (also not a heading)" in rest


# --------------------------------------------------------------------------- finding


def test_find_workspace_walks_up(tmp_path):
    (tmp_path / ".parac").mkdir()
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_workspace(deep) == tmp_path.resolve()
    assert find_workspace(tmp_path) == tmp_path.resolve()
    (deep / "file.txt").write_text("x")
    assert find_workspace(deep / "file.txt") == tmp_path.resolve()


def test_find_workspace_returns_none_without_one(tmp_path):
    expected = next((p for p in tmp_path.resolve().parents if (p / ".parac").is_dir()), None)
    assert find_workspace(tmp_path) == expected


def test_load_workspace_from_the_cwd(tmp_path, monkeypatch):
    workspace_with(tmp_path, "agents:\n  - id: here\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    ws = load_workspace()
    assert ws.root == tmp_path.resolve() and list(ws.agents) == ["here"] and not ws.is_demo
    assert load_workspace(tmp_path / ".parac").root == tmp_path.resolve()


def test_load_workspace_refuses_a_folder_without_parac(tmp_path):
    with pytest.raises(WorkspaceError, match=r"no \.parac/ folder in") as caught:
        load_workspace(tmp_path)
    assert "paracle init" in caught.value.hint
    with pytest.raises(BadInputError, match="does not exist"):
        load_workspace(tmp_path / "missing")


def test_an_empty_parac_is_an_empty_workspace(tmp_path):
    (tmp_path / ".parac").mkdir()
    ws = load_workspace(tmp_path)
    assert (ws.agents, ws.skills, ws.workflows) == ({}, {}, {})
    assert any("no agent manifest" in w for w in ws.warnings)


def test_uncatalogued_template_with_a_taken_name_is_still_listed(tmp_path):
    write(
        tmp_path,
        ".parac/workflows/definitions/a.yaml",
        "description: |\n  first\n  line\nsteps: []\n",
    )
    write(tmp_path, ".parac/workflows/templates/a.yaml", 'description: "see #2" # why\nsteps: []\n')
    ws = load_workspace(tmp_path)
    assert list(ws.workflows) == ["a", "templates/a"]
    assert ws.workflows["a"].description == "first\nline"
    assert ws.workflows["templates/a"].description == "see #2"
    assert ws.load_workflow("templates/a").source.file.endswith(str(Path("templates") / "a.yaml"))


def test_a_broken_catalog_is_a_warning_and_files_are_still_listed(tmp_path):
    write(tmp_path, ".parac/workflows/catalog.yaml", "workflows:\n  - name: [\n")
    write(tmp_path, ".parac/workflows/definitions/solo.yaml", "steps: []\n")
    ws = load_workspace(tmp_path)
    assert list(ws.workflows) == ["solo"]
    assert any("catalog.yaml:" in w and "bad YAML" in w for w in ws.warnings)


def test_a_skill_with_broken_front_matter_keeps_its_body(tmp_path):
    write(tmp_path, ".parac/agents/skills/odd/SKILL.md", "---\nname: [odd\n---\nStill useful.\n")
    workspace_with(tmp_path, "agents:\n  - id: a\n    skills: [odd]\n")
    ws = load_workspace(tmp_path)
    assert ws.skills["odd"].body == "Still useful."
    assert ws.agent("a").system_prompt.endswith("\n\nStill useful.")
    assert len(ws.warnings) == 1 and "SKILL.md:2: front matter is not valid YAML" in ws.warnings[0]
