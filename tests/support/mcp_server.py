"""A real MCP server, written with the same SDK the engine talks to, for the MCP tests.

Run as `python tests/support/mcp_server.py` (stdio) or with `--http PORT` (streamable HTTP on
127.0.0.1:PORT, path /mcp). Its tools: echo, add, fail (an isError result), sleep, env (what
the server's environment holds for a name), pid (its process id) and picture (an image).
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("paracle-test")

# A 1x1 PNG, so the image summary has real bytes to count.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@server.tool(description="Give back the text it was given.")
def echo(text: str) -> str:
    return text


@server.tool(description="Add two numbers.")
def add(a: float, b: float) -> str:
    total = a + b
    return str(int(total) if total == int(total) else total)


@server.tool(description="Always fail, as an error result.")
def fail(reason: str = "it failed") -> str:
    raise ToolError(reason)


@server.tool(description="Sleep for some seconds, then say so.")
async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool(description="The value of an environment variable in the server, or <unset>.")
def env(name: str) -> str:
    return os.environ.get(name, "<unset>")


@server.tool(description="The server's process id.")
def pid() -> str:
    return str(os.getpid())


@server.tool(description="A tiny picture.")
def picture() -> Image:
    return Image(data=PNG, format="png")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
