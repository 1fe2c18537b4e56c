"""A cloned `.parac/` full of special files, through the real `paracle` command line.

A workflow file that is a symlink to /dev/zero, a FIFO, a socket, a symlink loop and an
oversize spec: `paracle workflow list`, `paracle agents` and `paracle run` each finish (within
a deadline), print one warning line per bad file, and exit as usual.
"""

from __future__ import annotations

import os
import socket

import pytest
from support.cli import cli_env, run_cli

from paracle_engine.workspace.loader import write_demo

DEADLINE = 30.0
LIMIT = 20_000


@pytest.fixture
def spoiled(tmp_path):
    """The demo workspace with one bad file of each kind, and config.toml setting the cap."""
    write_demo(tmp_path / "ws")
    parac = tmp_path / "ws" / ".parac"
    definitions = parac / "workflows" / "definitions"
    (definitions / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(definitions / "fifo.yaml")
    (definitions / "loop.yaml").symlink_to("loop.yaml")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(definitions)  # bound by a relative name: socket paths are short
    try:
        sock.bind("sock.yaml")
    finally:
        os.chdir(here)
    spec = parac / "agents" / "specs" / "critic.md"
    spec.write_text("# Critic\n\n" + "Be thorough.\n" * 2_000, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f"[workspace]\nmax_file_bytes = {LIMIT}\n")
    yield tmp_path / "ws", cli_env(home)
    sock.close()
    try:  # release a reader a regression left blocked on the FIFO
        os.close(os.open(definitions / "fifo.yaml", os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


BAD = {
    "zero.yaml": "skipped: a character device, not a regular file",
    "fifo.yaml": "skipped: a FIFO, not a regular file",
    "loop.yaml": "skipped: a symlink loop",
    "sock.yaml": "skipped: a socket, not a regular file",
    "critic.md": f"over the limit of {LIMIT} bytes",
}


def assert_one_warning_each(stderr: str) -> None:
    lines = stderr.splitlines()
    for name, why in BAD.items():
        mentions = [ln for ln in lines if name in ln]
        assert len(mentions) == 1, (name, stderr)
        assert mentions[0].startswith("warning: ") and why in mentions[0], mentions[0]


@pytest.mark.parametrize(
    "command",
    [
        ("workflow", "list"),
        ("agents",),
        ("run", "writer", "--task", "hi", "--provider", "simulated"),
    ],
    ids=["workflow-list", "agents", "run"],
)
def test_commands_finish_and_warn_once_per_bad_file(spoiled, command):
    ws, env = spoiled
    out = run_cli(*command, env=env, cwd=ws, timeout=DEADLINE)
    assert out.returncode == 0, out.stderr
    assert_one_warning_each(out.stderr)
    if command[0] == "workflow":
        assert "quick_answer" in out.stdout and "research_report" in out.stdout
        assert "zero" not in out.stdout and "fifo" not in out.stdout
    elif command[0] == "agents":
        assert "critic" in out.stdout and "senior-writer" in out.stdout
    else:
        assert "Simulated answer" in out.stdout
