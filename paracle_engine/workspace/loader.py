"""Loading a `.parac/` workspace: agents, skills and the list of workflows.

Agents and skills are read eagerly (they are few and small); workflow files are only listed
here and parsed when `Workspace.load_workflow` asks for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paracle_engine.errors import BadInputError, WorkspaceError
from paracle_engine.models import AgentSpec, WorkflowSpec
from paracle_engine.workspace.agents import (
    MAX_INHERITANCE_DEPTH,
    Skill,
    load_agents,
    load_skills,
    prompt_from_spec,
)
from paracle_engine.workspace.yaml_source import (
    DEFAULT_MAX_FILE_BYTES,
    SkippedFile,
    child,
    display_path,
    exists,
    items,
    line_of,
    load_yaml,
    read_text,
    real_path,
)

PARAC = ".parac"
_WORKFLOW_DIRS = ("definitions", "templates")  # templates are looked up after definitions

__all__ = [
    "MAX_INHERITANCE_DEPTH",
    "Skill",
    "WorkflowEntry",
    "Workspace",
    "configured_max_file_bytes",
    "demo_workspace_path",
    "find_workspace",
    "load_workspace",
    "parse_workflow",
    "prompt_from_spec",
    "write_demo",
]


@dataclass(slots=True)
class WorkflowEntry:
    """A workflow the workspace lists: from `catalog.yaml` or found in definitions/templates."""

    name: str
    file: Path
    description: str | None = None
    category: str | None = None
    status: str = "active"
    tags: list[str] = field(default_factory=list)
    # Why the entry cannot load (its file is missing), else None.
    error: str | None = None
    in_catalog: bool = False
    # Line of the entry in catalog.yaml, for errors about it.
    line: int | None = None


class Workspace:
    """A loaded workspace: agents with inheritance resolved, skills, and workflow entries."""

    def __init__(
        self,
        root: Path,
        *,
        is_demo: bool = False,
        agents: dict[str, AgentSpec] | None = None,
        skills: dict[str, Skill] | None = None,
        workflows: dict[str, WorkflowEntry] | None = None,
        warnings: list[str] | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.root = root
        # Workspace files larger than this are skipped (`[workspace] max_file_bytes`).
        self.max_file_bytes = max_file_bytes
        self.is_demo = is_demo
        self.agents: dict[str, AgentSpec] = agents or {}
        self.skills: dict[str, Skill] = skills or {}
        self.workflows: dict[str, WorkflowEntry] = workflows or {}
        self.warnings: list[str] = warnings or []

    def __repr__(self) -> str:
        kind = "demo" if self.is_demo else str(self.root)
        return f"<Workspace {kind}: {len(self.agents)} agents, {len(self.workflows)} workflows>"

    @property
    def parac_dir(self) -> Path:
        return self.root / PARAC

    def agent(self, agent_id: str) -> AgentSpec:
        """The agent with this id, or a BadInputError listing the known ids."""
        try:
            return self.agents[agent_id]
        except KeyError:
            known = ", ".join(self.agents) or "none"
            raise BadInputError(
                f"unknown agent '{agent_id}' (known: {known})",
                hint="`paracle agents` lists the workspace's agents",
            ) from None

    def load_workflow(self, name_or_file: str) -> WorkflowSpec:
        """Parse a workflow named in the catalog, by file stem, or by a path to a YAML file."""
        entry = self.workflows.get(name_or_file) or next(
            (e for e in self.workflows.values() if e.file.stem == name_or_file), None
        )
        if entry is not None:
            if entry.error and entry.status == "missing":  # else reading it says why
                catalog = self.parac_dir / "workflows" / "catalog.yaml"
                raise WorkspaceError(
                    f"workflow '{entry.name}': {entry.error}",
                    file=display_path(catalog) if entry.in_catalog else None,
                    line=entry.line,
                    hint="create the file or fix `file:` in the catalog",
                )
            return parse_workflow(entry.file, limit=self.max_file_bytes)
        path = Path(name_or_file).expanduser()
        for candidate in (path, self.parac_dir / "workflows" / path):
            if exists(candidate) and not candidate.is_dir():
                return parse_workflow(candidate, limit=self.max_file_bytes)
        known = ", ".join(self.workflows) or "none"
        raise BadInputError(
            f"unknown workflow '{name_or_file}' (known: {known})",
            hint="give a workflow name or the path to a .yaml file",
        )


def parse_workflow(
    path: Path, text: str | None = None, *, limit: int = DEFAULT_MAX_FILE_BYTES
) -> WorkflowSpec:
    """Parse a workflow file (or `text` as if read from `path`) into a WorkflowSpec.

    Raises WorkspaceError naming file and line on bad YAML or a shape that is not a workflow;
    fields kept but not acted on are listed in `WorkflowSpec.warnings`. Agent ids, dependencies
    and template references are checked later, by `validate_workflow`.
    """
    # Imported here so listing agents never pays for the workflow parser.
    from paracle_engine.workspace.workflows import parse_workflow as parse

    return parse(path, text, limit=limit)


def demo_workspace_path() -> Path:
    """The folder holding the bundled demo `.parac/`."""
    return Path(__file__).resolve().parents[1] / "demo"


def find_workspace(start: Path | None = None) -> Path | None:
    """Walk up from `start` (default: the cwd) to the first folder holding `.parac/`.

    Symlink loops on the way are folders without a `.parac/`, never an error.
    """
    here = real_path(start or Path.cwd())
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / PARAC).is_dir():
            return folder
    return None


def load_workspace(path: Path | None = None, *, max_file_bytes: int | None = None) -> Workspace:
    """Load the workspace at `path` (a folder holding `.parac/`, or `.parac/` itself).

    With no path, the workspace found from the cwd, else the bundled demo. A file that cannot
    be read safely (a FIFO, device, socket, symlink loop, or one over `max_file_bytes`, by
    default `[workspace] max_file_bytes` of config.toml) is one warning, and left out.
    """
    limit = max_file_bytes if max_file_bytes is not None else configured_max_file_bytes()
    if path is None:
        root = find_workspace() or demo_workspace_path()
    else:
        path = real_path(path)
        if path.name == PARAC and path.is_dir():
            root = path.parent
        elif (path / PARAC).is_dir():
            root = path
        elif not path.exists():
            raise BadInputError(f"workspace folder {path} does not exist")
        else:
            raise WorkspaceError(
                f"no {PARAC}/ folder in {path}",
                hint=f"run `paracle init {path}` to create one, or name a folder that holds {PARAC}/",
            )
    is_demo = root == demo_workspace_path()
    parac = root / PARAC
    warnings: list[str] = []
    agents_dir = parac / "agents"
    skills = load_skills(agents_dir, warnings, limit=limit)
    agents = load_agents(
        agents_dir, skills, warnings, origin="demo" if is_demo else "workspace", limit=limit
    )
    workflows = _list_workflows(parac / "workflows", warnings, limit)
    return Workspace(
        root,
        is_demo=is_demo,
        agents=agents,
        skills=skills,
        workflows=workflows,
        warnings=warnings,
        max_file_bytes=limit,
    )


def configured_max_file_bytes() -> int:
    """`[workspace] max_file_bytes` from config.toml; the default when the file is unusable.

    A broken config.toml is reported by the commands that use the settings; listing a
    workspace does not fail over it.
    """
    from paracle_engine.config import load_settings
    from paracle_engine.errors import ParacleError

    try:
        return load_settings().workspace.max_file_bytes
    except ParacleError:
        return DEFAULT_MAX_FILE_BYTES


def write_demo(dest: Path) -> Path:
    """Copy the demo `.parac/` into `dest` (created if needed) and return the new `.parac/`.

    Refuses with BadInputError when `dest/.parac` already exists.
    """
    target = dest.expanduser() / PARAC
    if target.exists():
        raise BadInputError(
            f"{target} already exists",
            hint="choose another folder, or remove it first if you mean to start over",
        )
    import shutil

    # Copy contents only: installed package files may be read-only, the user's copy must not be.
    shutil.copytree(
        demo_workspace_path() / PARAC,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        copy_function=shutil.copyfile,
    )
    return target


# --------------------------------------------------------------------------- workflows


def _list_workflows(folder: Path, warnings: list[str], limit: int) -> dict[str, WorkflowEntry]:
    """Catalog entries first, then every definitions/ and templates/ file not in it. No parsing.

    A file in definitions/ or templates/ that cannot be read safely is one warning and is not
    listed; one the catalog names is listed with its error.
    """
    entries: dict[str, WorkflowEntry] = {}
    if not folder.is_dir():
        return entries
    catalog = folder / "catalog.yaml"
    if exists(catalog):
        try:
            _read_catalog(catalog, folder, entries, warnings, limit)
        except WorkspaceError as exc:  # the catalog is optional: list the files instead
            warnings.append(f"{exc.one_line()}; listing the workflow files instead")
    listed = {real_path(e.file) for e in entries.values()}
    for sub in _WORKFLOW_DIRS:
        files = sorted([*(folder / sub).glob("*.yaml"), *(folder / sub).glob("*.yml")])
        for path in files:
            real = real_path(path)
            if real in listed:
                continue
            listed.add(real)
            try:
                text: str | None = read_text(path, limit=limit)
            except SkippedFile as exc:
                warnings.append(exc.one_line())
                continue
            except WorkspaceError:  # not UTF-8, say: listed, and loading it says why
                text = None
            key = path.stem if path.stem not in entries else f"{sub}/{path.stem}"
            entries[key] = WorkflowEntry(name=key, file=path, description=_peek_description(text))
    return entries


def _read_catalog(
    catalog: Path,
    folder: Path,
    entries: dict[str, WorkflowEntry],
    warnings: list[str],
    limit: int,
) -> None:
    label = display_path(catalog)
    data, root = load_yaml(read_text(catalog, label, limit=limit), label, warnings)
    if not isinstance(data, dict):
        return
    raw = data.get("workflows") or []
    node = child(root, "workflows")
    nodes = items(node)
    if isinstance(raw, dict):  # `workflows: {name: {...}}`
        raw = [
            {"name": k, **v} if isinstance(v, dict) else {"name": k, "file": v}
            for k, v in raw.items()
        ]
    if not isinstance(raw, list):
        raise WorkspaceError("`workflows` must be a list", file=label, line=line_of(node))
    for i, item in enumerate(raw):
        line = line_of(nodes[i]) if i < len(nodes) else None
        if not isinstance(item, dict) or not (item.get("name") or item.get("file")):
            warnings.append(f"{label}:{line}: a catalog entry needs `name` and `file`; skipped")
            continue
        name = str(item.get("name") or Path(str(item["file"])).stem)
        if name in entries:
            warnings.append(
                f"{label}:{line}: workflow '{name}' is listed twice; the first entry is used"
            )
            continue
        path = _catalog_file(folder, name, item.get("file"))
        tags = item.get("tags") or []
        entry = WorkflowEntry(
            name=name,
            file=path,
            description=None
            if item.get("description") is None
            else str(item["description"]).strip(),
            category=None if item.get("category") is None else str(item["category"]),
            status=str(item.get("status") or "active"),
            tags=[str(t) for t in tags] if isinstance(tags, list) else [str(tags)],
            in_catalog=True,
            line=line,
        )
        if not exists(path):
            rel = (
                path.relative_to(folder.parent.parent)
                if path.is_relative_to(folder.parent.parent)
                else path
            )
            entry.error = f"file {rel} does not exist"
            entry.status = "missing"
            warnings.append(f"{label}:{line}: workflow '{name}' lists {rel}, which does not exist")
        else:
            try:
                read_text(path, limit=limit)
            except SkippedFile as exc:
                entry.error = exc.cause
                entry.status = "unreadable"
                warnings.append(exc.one_line())
            except WorkspaceError:  # not UTF-8, say: loading it says why
                pass
        entries[name] = entry


def _catalog_file(folder: Path, name: str, file: Any) -> Path:
    if file:
        return folder / str(file)
    for sub in _WORKFLOW_DIRS:
        for ext in (".yaml", ".yml"):
            if exists(candidate := folder / sub / f"{name}{ext}"):
                return candidate
    return folder / _WORKFLOW_DIRS[0] / f"{name}.yaml"


_DESCRIPTION = re.compile(r"^description:[ \t]*(.*)$", re.MULTILINE)


def _peek_description(text: str | None) -> str | None:
    """The top-level `description:` of a workflow file's text, found without parsing the YAML."""
    if text is None:
        return None
    match = _DESCRIPTION.search(text)
    if not match:
        return None
    value = match.group(1).strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    value = value.split(" #", 1)[0].strip()  # an unquoted value ends at a comment
    if value[:1] in ("|", ">"):  # a block: the indented lines that follow
        block = []
        for line in text[match.end() + 1 :].splitlines():
            if line and not line[0].isspace():
                break
            block.append(line.strip())
        return "\n".join(block).strip() or None
    return value or None
