"""Agents of a workspace: the manifest, inheritance, skills and the assembled system prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from paracle_engine.errors import WorkspaceError
from paracle_engine.models import AgentSpec, SourceLocation
from paracle_engine.workspace.yaml_source import (
    DEFAULT_MAX_FILE_BYTES,
    SkippedFile,
    YAMLError,
    child,
    display_path,
    exists,
    items,
    key_lines,
    line_of,
    load_yaml,
    read_text,
    safe_load,
)

MAX_INHERITANCE_DEPTH = 5
# Manifest keys the engine acts on; every other key is kept as metadata.
_AGENT_KEYS = (
    "id", "name", "description", "provider", "model", "temperature", "max_tokens",
    "base_url", "system_prompt", "spec_file", "parent", "tools", "skills",
)  # fmt: skip
_LIST_KEYS = ("tools", "skills")
# Not inherited: each agent names its own parent.
_OWN_KEYS = ("id", "parent")


@dataclass(slots=True)
class Skill:
    """A skill: `agents/skills/<name>/SKILL.md`, YAML front matter and a Markdown body."""

    name: str
    description: str | None
    body: str
    file: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def load_skills(
    agents_dir: Path, warnings: list[str], *, limit: int = DEFAULT_MAX_FILE_BYTES
) -> dict[str, Skill]:
    """Every `skills/<name>/SKILL.md`, keyed by folder name (the name agents use).

    A SKILL.md that cannot be read (not a regular file, too big, not UTF-8) is one warning.
    """
    skills: dict[str, Skill] = {}
    folder = agents_dir / "skills"
    if not folder.is_dir():
        return skills
    # Not a glob: a glob passes over a SKILL.md that is a symlink loop without a word.
    for sub in sorted(folder.iterdir()):
        path = sub / "SKILL.md"
        if not sub.is_dir() or not exists(path):
            continue
        label = display_path(path)
        try:
            text = read_text(path, label, limit=limit)
        except WorkspaceError as exc:
            warnings.append(exc.one_line())
            continue
        front, body, line = _split_front_matter(text)
        meta: dict[str, Any] = {}
        if front is not None:
            try:
                loaded = safe_load(front, label, warnings, first_line=line)
            except YAMLError as exc:  # a broken header must not hide the skill's body
                warnings.append(
                    f"{label}:{line}: front matter is not valid YAML ({type(exc).__name__}); using the folder name"
                )
                loaded = None
            if isinstance(loaded, dict):
                meta = {str(k): v for k, v in loaded.items()}
        name = path.parent.name
        description = meta.pop("description", None)
        meta.pop("name", None)
        skills[name] = Skill(
            name=name,
            description=None if description is None else str(description).strip(),
            body=body.strip(),
            file=path,
            metadata=meta,
        )
    return skills


def _split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter, body, line where the front matter starts)."""
    if not text.startswith("---"):
        return None, text, 1
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), 2
    return None, text, 1


def load_agents(
    agents_dir: Path,
    skills: dict[str, Skill],
    warnings: list[str],
    origin: Literal["workspace", "demo", "saved"] = "workspace",
    *,
    limit: int = DEFAULT_MAX_FILE_BYTES,
) -> dict[str, AgentSpec]:
    """The agents of `agents/manifest.yaml`, inheritance resolved and system prompts assembled.

    A manifest that is not a regular file, or is over `limit` bytes, is one warning and no agents.
    """
    path = agents_dir / "manifest.yaml"
    if not exists(path):
        warnings.append(f"{display_path(path)}: no agent manifest, so the workspace has no agents")
        return {}
    label = display_path(path)
    try:
        text = read_text(path, label, limit=limit)
    except SkippedFile as exc:
        warnings.append(f"{exc.one_line()}; the workspace has no agents")
        return {}
    data, root = load_yaml(text, label, warnings)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WorkspaceError(
            "the manifest must be a mapping with `agents`", file=label, line=line_of(root)
        )
    return _Manifest(agents_dir, label, data, root, skills, warnings, origin, limit).resolve()


class _Manifest:
    def __init__(
        self,
        agents_dir: Path,
        label: str,
        data: dict[str, Any],
        root: Any,
        skills: dict[str, Skill],
        warnings: list[str],
        origin: Literal["workspace", "demo", "saved"],
        limit: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.agents_dir = agents_dir
        self.limit = limit
        self.label = label
        self.skills = skills
        self.warnings = warnings
        self.origin = origin
        self._spec_cache: dict[Path, str | None] = {}
        self._skipped: set[Path] = set()  # spec files warned about once, as skipped
        lines = key_lines(root)
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise WorkspaceError(
                "`defaults` must be a mapping", file=label, line=lines.get("defaults")
            )
        self.defaults = {str(k): v for k, v in defaults.items()}
        self.raw: dict[str, dict[str, Any]] = {}
        self.lines: dict[str, dict[str, int]] = {}
        self.line: dict[str, int | None] = {}
        self._read_agents(data.get("agents"), child(root, "agents"), lines.get("agents"))

    def error(self, message: str, line: int | None, hint: str | None = None) -> WorkspaceError:
        return WorkspaceError(message, file=self.label, line=line, hint=hint)

    def _read_agents(self, agents: Any, node: Any, line: int | None) -> None:
        if agents is None:
            return
        nodes = items(node)
        if isinstance(agents, dict):  # `agents: {coder: {...}}` keyed by id
            entries = [
                ({"id": k, **(v or {})} if isinstance(v, dict | None) else v)
                for k, v in agents.items()
            ]
        elif isinstance(agents, list):
            entries = agents
        else:
            raise self.error(
                "`agents` must be a list of agents", line, hint="write each agent as `- id: ...`"
            )
        for i, raw in enumerate(entries):
            item_node = nodes[i] if i < len(nodes) else None
            at = line_of(item_node)
            if not isinstance(raw, dict):
                raise self.error(f"agent {i + 1} must be a mapping with an `id`", at)
            agent_id = raw.get("id")
            if agent_id is None or str(agent_id).strip() == "":
                raise self.error(
                    f"agent {i + 1} has no `id`", at, hint="give it `id: a-short-name`"
                )
            agent_id = str(agent_id)
            if agent_id in self.raw:
                raise self.error(
                    f"agent '{agent_id}' is defined twice", at, hint="agent ids must be unique"
                )
            self.raw[agent_id] = {str(k): v for k, v in raw.items()}
            self.lines[agent_id] = key_lines(item_node)
            self.line[agent_id] = at

    # ------------------------------------------------------------------ inheritance

    def lineage(self, agent_id: str) -> list[str]:
        """Ancestors nearest first; a cycle, an unknown parent or too deep a chain is an error."""
        chain = [agent_id]
        current = agent_id
        while (parent := self.raw[current].get("parent")) is not None:
            parent = str(parent)
            at = self.lines[current].get("parent", self.line[current])
            if parent not in self.raw:
                known = ", ".join(self.raw) or "none"
                raise self.error(
                    f"agent '{current}' has unknown parent '{parent}' (known: {known})",
                    at,
                    hint="fix `parent` or add that agent to the manifest",
                )
            if parent in chain:
                loop = " -> ".join([*chain[chain.index(parent) :], parent])
                raise self.error(
                    f"agent inheritance cycle: {loop}",
                    at,
                    hint="remove one `parent` to break the cycle",
                )
            chain.append(parent)
            current = parent
        ancestors = chain[1:]
        if len(ancestors) > MAX_INHERITANCE_DEPTH:
            raise self.error(
                f"agent '{agent_id}' inherits through {len(ancestors)} levels ({' -> '.join(chain)}); "
                f"at most {MAX_INHERITANCE_DEPTH} are allowed",
                self.lines[agent_id].get("parent", self.line[agent_id]),
                hint="flatten the chain of `parent`s",
            )
        return ancestors

    def resolve(self) -> dict[str, AgentSpec]:
        return {agent_id: self._agent(agent_id) for agent_id in self.raw}

    def _agent(self, agent_id: str) -> AgentSpec:
        lineage = self.lineage(agent_id)
        fields: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        lists: dict[str, list[str]] = {k: [] for k in _LIST_KEYS}
        # Defaults first, then the oldest ancestor down to the agent itself.
        for layer in [None, *reversed(lineage), agent_id]:
            raw = self.defaults if layer is None else self.raw[layer]
            for key, value in raw.items():
                if key in _LIST_KEYS:
                    for item in self._names(value, layer or "defaults", key):
                        if item not in lists[key]:
                            lists[key].append(item)
                elif key == "metadata" and isinstance(value, dict):
                    metadata.update({str(k): v for k, v in value.items()})
                elif key in _AGENT_KEYS:
                    if (
                        key not in _OWN_KEYS or layer == agent_id
                    ):  # `id`, `parent` are never inherited
                        fields[key] = value
                else:
                    metadata[key] = value
        fields.update(lists)
        fields["id"] = agent_id
        fields.setdefault("parent", None)
        for key in ("name", "description", "model", "provider", "spec_file", "parent", "base_url"):
            if fields.get(key) is not None:
                fields[key] = str(fields[key]).strip()
        fields["system_prompt"] = self._prompt(agent_id, fields)
        try:
            return AgentSpec(
                **fields,
                metadata=metadata,
                origin=self.origin,
                lineage=lineage,
                source=SourceLocation(file=self.label, line=self.line[agent_id]),
            )
        except PydanticValidationError as exc:
            err = exc.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            at = self.lines[agent_id].get(key, self.line[agent_id])
            raise self.error(f"agent '{agent_id}': `{key}` {err['msg'].lower()}", at) from None

    def _names(self, value: Any, where: str, key: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        line = self.lines.get(where, {}).get(key)
        what = "defaults" if where == "defaults" else f"agent '{where}'"
        if not isinstance(value, list):
            raise self.error(f"{what}: `{key}` must be a list of names", line)
        out = []
        for item in value:
            if isinstance(item, dict) and "name" in item:
                item = item["name"]
            if item is None or isinstance(item, dict | list):
                raise self.error(f"{what}: `{key}` must be a list of names", line)
            out.append(str(item))
        return out

    # ------------------------------------------------------------------ system prompt

    def _prompt(self, agent_id: str, fields: dict[str, Any]) -> str:
        """The agent's own `system_prompt`, else its spec file followed by its skills' bodies."""
        given = fields.get("system_prompt")
        if given:
            return str(given).strip()
        parts: list[str] = []
        spec_file = fields.get("spec_file")
        spec_text = None
        if spec_file:
            spec_path = self.agents_dir / spec_file
            spec_text = self._spec(spec_path)
            if spec_text is None and spec_path not in self._skipped:
                self.warnings.append(
                    f"agent '{agent_id}': spec file {display_path(self.agents_dir / spec_file)} not found; "
                    "its prompt is made from its name and description"
                )
        else:  # by convention, specs/<id>.md
            conventional = self.agents_dir / "specs" / f"{agent_id}.md"
            spec_text = self._spec(conventional) if exists(conventional) else None
        if spec_text is not None:
            parts.append(prompt_from_spec(spec_text))
        else:
            label = fields.get("name") or agent_id
            description = fields.get("description")
            parts.append(f"You are {label}. {description}" if description else f"You are {label}.")
        for name in fields.get("skills", []):
            skill = self.skills.get(name)
            if skill is None and exists(self.agents_dir / "skills" / name / "SKILL.md"):
                pass  # there but unreadable: load_skills has said why, once
            elif skill is None:
                self.warnings.append(
                    f"agent '{agent_id}': skill '{name}' not found (expected agents/skills/{name}/SKILL.md)"
                )
            elif skill.body:
                parts.append(skill.body)
        return "\n\n".join(p for p in parts if p)

    def _spec(self, path: Path) -> str | None:
        """A spec file's text, read once; None when it cannot be (a skipped file warns once)."""
        if path not in self._spec_cache:
            try:
                self._spec_cache[path] = read_text(path, limit=self.limit)
            except SkippedFile as exc:
                self._spec_cache[path] = None
                self._skipped.add(path)
                self.warnings.append(
                    f"{exc.one_line()}; agents that use it get a prompt from their name "
                    "and description"
                )
            except WorkspaceError:
                self._spec_cache[path] = None
        return self._spec_cache[path]


def prompt_from_spec(text: str) -> str:
    """A spec's H1 title and `## Role` section first, then the rest of the spec."""
    lines = text.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line index, level, title)
    fence: str | None = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
            continue
        if fence is None and stripped.startswith("#") and line == stripped:
            level = len(stripped) - len(stripped.lstrip("#"))
            if level <= 6 and stripped[level : level + 1] in (" ", ""):
                headings.append((i, level, stripped[level:].strip()))
    title = next((h for h in headings if h[1] == 1), None)
    role = next((h for h in headings if h[1] == 2 and h[2].lower() == "role"), None)
    taken: set[int] = set()
    first: list[str] = []
    if title is not None:
        first.append(lines[title[0]])
        taken.add(title[0])
    if role is not None:
        end = next((i for i, level, _ in headings if i > role[0] and level <= 2), len(lines))
        first.append("\n".join(lines[role[0] : end]).strip())
        taken.update(range(role[0], end))
    rest = "\n".join(line for i, line in enumerate(lines) if i not in taken).strip()
    rest = re.sub(r"\n{3,}", "\n\n", rest)  # the gap left where the Role section was
    return "\n\n".join(part for part in [*first, rest] if part)
