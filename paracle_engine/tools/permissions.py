"""Whether a tool call may run: `allow`, `ask` (a person approves it) or `deny`.

Defaults: the read-only tools (read_file, list_files, search_files, git_status, git_diff,
git_log) are allowed; everything else is asked (write_file, edit_file, run_command,
run_tests, run_lint, git_add, git_commit, every MCP tool `mcp__*`, and any unknown tool).

Rules come from config (`[permissions] allow = [...]`, `ask = [...]`, `deny = [...]`) and
from the command line (`allow_tools`, `approve_all`). A rule is a tool-name pattern
(fnmatch: `mcp__github__*`), optionally followed by `:` and a pattern on the tool's key
argument (the command for run_command, the path for the file tools, each path for
git_add): `run_command:pytest*`, `write_file:docs/*`.

Precedence, first that matches decides:
1. `deny` from config. Deny wins over everything, `approve_all` included.
2. the command line: `allow_tools` (same patterns), then `approve_all`.
3. `ask` from config, then `allow` from config.
4. the defaults above.

Two cautions built in. A rule with an argument pattern matches a run_command only when the
command has no shell control characters (`;`, `&`, `|`, backquote, `$(`, redirections,
newlines), so `allow = ["run_command:pytest*"]` does not allow `pytest; rm -rf ~`; a
deny with an argument pattern matches regardless. For a list argument (git_add paths), an
allow rule must match every item; deny and ask match if any item does. Paths are compared
relative to the project root when one is given.

`decide` only decides. Acting on `ask` is the agent loop's job, and with nobody to answer
(a headless run, a CI job) the loop must treat `ask` as `deny`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from paracle_engine.errors import BadInputError

Kind = Literal["allow", "ask", "deny"]
KINDS: tuple[Kind, ...] = ("allow", "ask", "deny")

READ_ONLY_TOOLS = frozenset(
    ("read_file", "list_files", "search_files", "git_status", "git_diff", "git_log")
)

# The argument a rule's `:pattern` is matched against, per tool.
KEY_ARGUMENTS: dict[str, str] = {
    "run_command": "command",
    "read_file": "path",
    "write_file": "path",
    "edit_file": "path",
    "list_files": "path",
    "search_files": "path",
    "git_diff": "path",
    "git_log": "path",
    "git_add": "paths",
}
_PATH_ARGUMENTS = frozenset(("path", "paths"))
_SHELL_CONTROL = (";", "&", "|", "`", "$(", ">", "<", "\n", "\r")


@dataclass(frozen=True)
class PermissionRule:
    """One rule: a tool-name pattern, an optional key-argument pattern, what it says, whence."""

    kind: Kind
    tool: str
    argument: str | None = None
    source: str = "config"

    @classmethod
    def parse(cls, text: str, kind: Kind, source: str = "config") -> PermissionRule:
        """A rule from `tool` or `tool:argument-pattern`; an empty one is a BadInputError."""
        tool, sep, argument = text.strip().partition(":")
        if not tool.strip():
            raise BadInputError(f"empty tool name in permission rule {text!r}")
        return cls(kind, tool.strip(), argument if sep else None, source)

    def __str__(self) -> str:
        pattern = self.tool if self.argument is None else f"{self.tool}:{self.argument}"
        return f"{self.kind} {pattern} ({self.source})"

    def matches(self, tool_name: str, values: list[str] | None) -> bool:
        if not fnmatch.fnmatchcase(tool_name, self.tool):
            return False
        if self.argument is None:
            return True
        if not values:
            return False
        if tool_name == "run_command" and self.kind != "deny":
            if any(mark in v for v in values for mark in _SHELL_CONTROL):
                return False
        hits = [fnmatch.fnmatchcase(v, self.argument) for v in values]
        return all(hits) if self.kind == "allow" else any(hits)


@dataclass(frozen=True)
class PermissionDecision:
    """What was decided for a call, and the rule that decided it."""

    kind: Kind
    rule: PermissionRule

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"


_DEFAULT_ALLOW = PermissionRule("allow", "<read-only tool>", source="default")
_DEFAULT_ASK = PermissionRule("ask", "*", source="default")
_APPROVE_ALL = PermissionRule("allow", "*", source="approve_all")


def _rules(patterns: Iterable[str], kind: Kind, source: str) -> list[PermissionRule]:
    if isinstance(patterns, str):
        raise BadInputError(f"permissions {kind} must be a list of tool patterns")
    return [PermissionRule.parse(p, kind, source) for p in patterns]


class Permissions:
    """The rules for one run; `decide` answers for each call."""

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        ask: Iterable[str] = (),
        deny: Iterable[str] = (),
        allow_tools: Iterable[str] = (),
        approve_all: bool = False,
        root: Path | None = None,
    ) -> None:
        self.deny = _rules(deny, "deny", "config")
        self.ask = _rules(ask, "ask", "config")
        self.allow = _rules(allow, "allow", "config")
        self.allow_tools = _rules(allow_tools, "allow", "allow_tools")
        self.approve_all = approve_all
        self.root = Path(os.path.realpath(root)) if root is not None else None

    @classmethod
    def from_config(
        cls,
        table: Mapping[str, Any] | None,
        *,
        allow_tools: Iterable[str] = (),
        approve_all: bool = False,
        root: Path | None = None,
    ) -> Permissions:
        """From a config `[permissions]` table, plus the command line's overrides."""
        table = table or {}
        unknown = set(table) - set(KINDS)
        if unknown:
            raise BadInputError(
                f"unknown key(s) in [permissions]: {', '.join(sorted(unknown))}",
                hint="use allow, ask and deny",
            )
        return cls(
            allow=table.get("allow", ()),
            ask=table.get("ask", ()),
            deny=table.get("deny", ()),
            allow_tools=allow_tools,
            approve_all=approve_all,
            root=root,
        )

    def _values(self, tool_name: str, arguments: Mapping[str, Any]) -> list[str] | None:
        key = KEY_ARGUMENTS.get(tool_name)
        if key is None or key not in arguments:
            return None
        raw = arguments[key]
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(item, str) for item in items):
            return None
        if key in _PATH_ARGUMENTS:
            return [self._path(item) for item in items]
        return list(items)

    def _path(self, text: str) -> str:
        if self.root is not None and os.path.isabs(text):
            try:
                text = os.path.relpath(os.path.realpath(text), self.root)
            except ValueError:
                pass
        return os.path.normpath(text).replace(os.sep, "/")

    def decide(
        self, tool_name: str, arguments: Mapping[str, Any] | None = None
    ) -> PermissionDecision:
        """Whether the call `tool_name(arguments)` may run, and which rule says so."""
        values = self._values(tool_name, arguments or {})
        for rule in self.deny:
            if rule.matches(tool_name, values):
                return PermissionDecision("deny", rule)
        for rule in self.allow_tools:
            if rule.matches(tool_name, values):
                return PermissionDecision("allow", rule)
        if self.approve_all:
            return PermissionDecision("allow", _APPROVE_ALL)
        for rules in (self.ask, self.allow):
            for rule in rules:
                if rule.matches(tool_name, values):
                    return PermissionDecision(rule.kind, rule)
        if tool_name in READ_ONLY_TOOLS:
            return PermissionDecision("allow", _DEFAULT_ALLOW)
        return PermissionDecision("ask", _DEFAULT_ASK)
