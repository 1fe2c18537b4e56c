"""Where MCP servers are configured, and what one entry means.

A project names its MCP servers under `mcpServers` in, in this order, `.parac/mcp.json`, the
framework's `.parac/config/mcp_config.json` and the project's `.mcp.json` (the project root
is the folder holding `.parac/`). Later files add servers; a name defined again is one
warning, and the first definition wins.

An entry is either a command (`command`, `args`, `env`), started over stdio, or a `url`
(with `headers`) reached over streamable HTTP. `${VAR}` (or `${VAR:-default}`) in any of
those strings is taken from the environment; an unset variable is a warning naming it, and
that server is left out. Nothing here starts a server: see `tools/mcp.py`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paracle_engine.errors import WorkspaceError, one_line
from paracle_engine.workspace.yaml_source import exists, read_text

# The files read, relative to the project root, first to last.
MCP_CONFIG_FILES = (".parac/mcp.json", ".parac/config/mcp_config.json", ".mcp.json")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class McpServerConfig:
    """One configured MCP server: a command over stdio, or a URL over streamable HTTP.

    `source` is the file that defined it, as a person reads it (`.mcp.json`).
    """

    name: str
    source: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"


@dataclass(frozen=True)
class McpConfig:
    """The servers found, by name in the order defined, and every warning met finding them."""

    servers: Mapping[str, McpServerConfig]
    warnings: tuple[str, ...] = ()


class _Unset(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand(text: str, environ: Mapping[str, str]) -> str:
    """`text` with `${VAR}` and `${VAR:-default}` replaced from `environ`.

    An unset variable without a default raises KeyError naming it.
    """

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None:
            if default is None:
                raise _Unset(name)
            return default
        return value

    try:
        return _VAR.sub(one, text)
    except _Unset as unset:
        raise KeyError(unset.name) from None


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


def _table(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{what} must be an object of strings")
    return dict(value)


def parse_entry(name: str, entry: Any, source: str, environ: Mapping[str, str]) -> McpServerConfig:
    """One `mcpServers` entry as a config, its `${VAR}`s expanded.

    A malformed entry is a ValueError; an unset variable a KeyError naming it.
    """
    if not isinstance(entry, dict):
        raise ValueError("must be an object")
    kind = entry.get("type")
    if kind is not None and kind not in ("stdio", "http", "streamable-http", "streamableHttp"):
        raise ValueError(f"transport {kind!r} is not supported (stdio or streamable HTTP)")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ValueError("needs either `command` or `url`")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise ValueError("`command` must be a non-empty string")
        args = _strings(entry.get("args", []), "`args`")
        env = _table(entry.get("env", {}), "`env`")
        return McpServerConfig(
            name=name,
            source=source,
            command=expand(command, environ),
            args=tuple(expand(a, environ) for a in args),
            env={k: expand(v, environ) for k, v in env.items()},
        )
    if not isinstance(url, str):
        raise ValueError("`url` must be a string")
    address = expand(url, environ)
    if not address.startswith(("http://", "https://")):
        raise ValueError("`url` must be an http:// or https:// address")
    headers = _table(entry.get("headers", {}), "`headers`")
    return McpServerConfig(
        name=name,
        source=source,
        url=address,
        headers={k: expand(v, environ) for k, v in headers.items()},
    )


def _read(path: Path, label: str) -> Any:
    text = read_text(path, label)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkspaceError(
            f"bad JSON: {exc.msg}", file=label, line=exc.lineno, column=exc.colno
        ) from None


def load_mcp_config(root: Path, environ: Mapping[str, str] | None = None) -> McpConfig:
    """The MCP servers configured for the project at `root` (the folder holding `.parac/`).

    Blocking (it reads files): call it through `asyncio.to_thread` from the loop. Never
    raises for a bad file or entry: each is one warning, and the rest is still read.
    """
    environ = os.environ if environ is None else environ
    servers: dict[str, McpServerConfig] = {}
    warnings: list[str] = []
    warned: set[str] = set()
    for relative in MCP_CONFIG_FILES:
        path = root / relative
        if not exists(path):
            continue
        try:
            data = _read(path, relative)
        except WorkspaceError as exc:
            warnings.append(f"MCP config skipped: {exc.one_line()}")
            continue
        entries = data.get("mcpServers") if isinstance(data, dict) else None
        if entries is None:
            continue
        if not isinstance(entries, dict):
            warnings.append(f"MCP config skipped: {relative}: `mcpServers` must be an object")
            continue
        for name, entry in entries.items():
            if name in servers:
                if name not in warned:
                    warned.add(name)
                    first = servers[name].source
                    warnings.append(
                        f"MCP server {name!r} is defined in {first} and again in {relative}; "
                        f"using the one in {first}"
                    )
                continue
            try:
                servers[name] = parse_entry(name, entry, relative, environ)
            except KeyError as unset:
                warnings.append(
                    f"MCP server {name!r} ({relative}) skipped: "
                    f"environment variable {unset.args[0]} is not set"
                )
            except ValueError as exc:
                warnings.append(
                    f"MCP server {name!r} ({relative}) skipped: {one_line(exc, kind=False)}"
                )
    return McpConfig(servers=servers, warnings=tuple(warnings))
