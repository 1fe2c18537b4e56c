"""The built-in tools, all in one registry."""

from __future__ import annotations

from paracle_engine.tools.base import ToolRegistry
from paracle_engine.tools.commands import COMMAND_TOOLS
from paracle_engine.tools.files import FILE_TOOLS
from paracle_engine.tools.git import GIT_TOOLS
from paracle_engine.tools.search import SEARCH_FILES

BUILTIN_TOOLS = (*FILE_TOOLS, SEARCH_FILES, *COMMAND_TOOLS, *GIT_TOOLS)


def builtin_registry() -> ToolRegistry:
    """A fresh registry holding every built-in tool (MCP tools are registered onto it later)."""
    return ToolRegistry(BUILTIN_TOOLS)
