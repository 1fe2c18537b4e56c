"""Permissions: defaults, config rules and patterns, command-line overrides, deny winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracle_engine.errors import BadInputError
from paracle_engine.tools.base import ToolContext
from paracle_engine.tools.names import tools_for, unavailable
from paracle_engine.tools.permissions import Permissions


def kind(perms: Permissions, tool: str, **arguments: object) -> str:
    return perms.decide(tool, arguments).kind


def test_defaults_allow_reading_and_ask_for_the_rest():
    perms = Permissions()
    for tool in ("read_file", "list_files", "search_files", "git_status", "git_diff", "git_log"):
        assert kind(perms, tool) == "allow"
    for tool in ("write_file", "edit_file", "run_command", "git_add", "git_commit"):
        assert kind(perms, tool) == "ask"
    decision = perms.decide("mcp__github__create_issue", {})
    assert decision.kind == "ask" and decision.rule.source == "default"


def test_patterns_on_the_tool_and_its_key_argument():
    perms = Permissions.from_config(
        {"allow": ["run_command:pytest*", "mcp__github__get_*", "write_file:docs/*"]}
    )
    decision = perms.decide("run_command", {"command": "pytest -q tests"})
    assert decision.kind == "allow" and str(decision.rule) == "allow run_command:pytest* (config)"
    assert kind(perms, "run_command", command="make test") == "ask"
    assert kind(perms, "mcp__github__get_issue") == "allow"
    assert kind(perms, "mcp__github__create_issue") == "ask"
    assert kind(perms, "write_file", path="docs/a.md", content="") == "allow"
    assert kind(perms, "write_file", path="./docs/a.md", content="") == "allow"
    assert kind(perms, "write_file", path="docs/../src/a.py", content="") == "ask"


def test_an_allowed_command_prefix_does_not_allow_a_chained_command():
    perms = Permissions(allow=["run_command:pytest*"])
    for command in ("pytest; rm -rf ~", "pytest && curl x", "pytest $(whoami)", "pytest > f"):
        assert kind(perms, "run_command", command=command) == "ask"


def test_deny_wins_over_everything():
    perms = Permissions(
        allow=["run_command"],
        deny=["run_command:rm *", "mcp__*", "write_file:.parac/*"],
        allow_tools=["mcp__github__*"],
        approve_all=True,
        root=Path("/proj"),
    )
    decision = perms.decide("run_command", {"command": "rm -rf build"})
    assert decision.kind == "deny" and decision.rule.argument == "rm *"
    assert kind(perms, "mcp__github__get_issue") == "deny"
    assert kind(perms, "write_file", path="/proj/.parac/agents/a.yaml") == "deny"
    assert kind(perms, "run_command", command="ls") == "allow"


def test_list_arguments_allow_only_if_every_item_matches():
    perms = Permissions(allow=["git_add:src/*"], deny=["git_add:*.env"])
    assert kind(perms, "git_add", paths=["src/a.py", "src/b.py"]) == "allow"
    assert kind(perms, "git_add", paths=["src/a.py", "notes.md"]) == "ask"
    assert kind(perms, "git_add", paths=["src/a.py", "prod.env"]) == "deny"


def test_command_line_overrides_beat_config_ask_but_not_deny():
    config = {"ask": ["git_status"], "deny": ["git_commit"]}
    plain = Permissions.from_config(config)
    assert plain.decide("git_status").rule.source == "config"
    assert kind(plain, "git_status") == "ask"
    listed = Permissions.from_config(config, allow_tools=["git_*"])
    assert listed.decide("git_status").rule.source == "allow_tools"
    assert kind(listed, "git_commit") == "deny"
    everything = Permissions.from_config(config, approve_all=True)
    assert everything.decide("write_file", {"path": "a"}).rule.source == "approve_all"
    assert kind(everything, "git_commit") == "deny"


def test_ask_in_config_beats_allow_in_config():
    perms = Permissions(allow=["run_command"], ask=["run_command:git push*"])
    assert kind(perms, "run_command", command="git push origin") == "ask"
    assert kind(perms, "run_command", command="git status") == "allow"


def test_bad_config_is_refused():
    with pytest.raises(BadInputError, match="unknown key"):
        Permissions.from_config({"alow": ["x"]})
    with pytest.raises(BadInputError, match="must be a list"):
        Permissions.from_config({"allow": "read_file"})
    with pytest.raises(BadInputError, match="empty tool name"):
        Permissions(deny=[":rm*"])


def test_manifest_names_map_to_builtins_and_say_what_cannot_be_provided(tmp_path: Path):
    names = ["git_operations", "file_read", "testing", "static_analysis", "telepathy", "mcp__x"]
    assert tools_for(names) == [
        "git_status", "git_diff", "git_log", "git_add", "git_commit",
        "read_file", "list_files", "search_files", "run_tests", "run_lint",
    ]  # fmt: skip
    bare = ToolContext(root=tmp_path)
    assert unavailable(names, bare) == ["testing", "static_analysis", "telepathy"]
    assert "run_tests" not in tools_for(names, bare)
    configured = ToolContext(root=tmp_path, test_command="pytest", lint_command="ruff check")
    assert unavailable(names, configured) == ["telepathy"]
    assert tools_for(["git_status", "run_command"]) == ["git_status", "run_command"]


def test_every_mapped_name_is_a_registered_builtin():
    from paracle_engine.tools.builtin import builtin_registry
    from paracle_engine.tools.names import BUILTIN_NAMES, MANIFEST_NAMES

    registered = set(builtin_registry().names())
    assert BUILTIN_NAMES == registered
    assert {t for tools in MANIFEST_NAMES.values() for t in tools} <= registered
