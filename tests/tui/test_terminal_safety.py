"""Nothing from outside reaches the terminal raw: answers, server errors, history, workspace text.

A model answer, an error body or a cloned workspace can hold terminal controls (`ESC ] 52`
sets the clipboard, `ESC ] 0` the title, `ESC [ 2J` clears the screen). Rich and Textual pass
them through, so the app shows them inert (`\\x1b]52`), through `paracle_engine.terminal`.
The pilot tests drive the real path (a loopback server speaking the Messages API, the engine,
its bus, the bridge, the widgets) and read every segment the screen would write. The tmux test
runs the real `paracle` in a tmux pane that honours OSC 52 (`set-clipboard on`) and checks no
paste buffer appeared and the pane's title stayed; it is skipped where tmux is not installed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import booted, highlight, make_app, make_engine, wait_for
from rich.segment import Segment
from support.cli import ROOT, cli_env
from support.loopback import LoopbackServer, Response, sse_event
from textual.geometry import Region
from textual.widgets import DataTable

from paracle_tui.screens.approval import ApprovalModal
from paracle_tui.screens.history import HistoryScreen
from paracle_tui.screens.run_detail import RunDetailScreen
from paracle_tui.widgets.pane_deck import PaneDeck

# Clipboard (OSC 52, ST-terminated), window title (OSC 0, BEL), clear screen, a lone C1 CSI,
# a bidi override and a carriage return.
HOSTILE = (
    "Fine answer \x1b]52;c;cGFyYWNsZQ==\x1b\\ then \x1b]0;pwned\x07 and \x1b[2J"
    " \x9b31m red \u202eevil\u202c and\rover"
)
# Markup a toast would otherwise act on, beside the controls.
HOSTILE_ERROR = "bad key \x1b]52;c;ZXJyb3I=\x07 [link=https://paracle.invalid]x[/link] \x1b]0;t\x07"
KEY = "sk-ant-test-0000000000000000000000-abcd"
# Any character a terminal would act on: C0 (newlines and tabs included: a rendered segment
# never needs them), DEL, C1, bidi embeddings, overrides and isolates, line separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

HOSTILE_WORKFLOW = """\
name: tricky
description: Say [b]hi[/b] \x1b]0;wf-title\x07
steps:
  - id: first
    agent: helper
    prompt: "{{ inputs.topic }}"
"""


def answer(text: str) -> Response:
    """A streamed Messages API answer whose text is `text`, in three deltas."""
    third = len(text) // 3
    parts = [text[:third], text[third : 2 * third], text[2 * third :]]
    events = [
        sse_event(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_hostile",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-sonnet-4-5",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
            event="message_start",
        ),
        sse_event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            event="content_block_start",
        ),
        *(
            sse_event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": part},
                },
                event="content_block_delta",
            )
            for part in parts
        ),
        sse_event({"type": "content_block_stop", "index": 0}, event="content_block_stop"),
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
            event="message_delta",
        ),
        sse_event({"type": "message_stop"}, event="message_stop"),
    ]
    return Response.sse(events)


def refusal(message: str) -> Response:
    """A 400 the provider does not retry, with `message` as the server's error text."""
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return Response.json(body, status=400)


def screen_lines(app) -> list[str]:
    """Every line each widget on screen renders now, after checking no segment holds a control.

    A widget is on screen when it has a region there; what it renders is its `render_lines`
    over its whole size, the strips the screen composes and writes."""
    lines: list[str] = []
    shown = [w for w in app.screen.walk_children(with_self=True) if w.region.area]
    assert shown, "nothing on screen"
    for widget in shown:
        width, height = widget.outer_size
        for y, strip in enumerate(widget.render_lines(Region(0, 0, width, height))):
            segments: list[Segment] = list(strip)
            for segment in segments:
                found = CONTROL.search(segment.text)
                assert found is None, (
                    f"line {y} of {type(widget).__name__} writes {found.group()!r} "
                    f"to the terminal: {segment.text!r}"
                )
            lines.append("".join(segment.text for segment in segments))
    return lines


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


@pytest.fixture
def anthropic_env(monkeypatch: pytest.MonkeyPatch):
    """Point the Anthropic provider at a loopback server (the returned setter takes its URL)."""

    def point(url: str) -> None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    return point


async def test_hostile_answer_error_and_transcript_reach_the_screen_inert(
    workspace: Path, anthropic_env
) -> None:
    (workspace / ".parac" / "workflows" / "definitions" / "tricky.yaml").write_text(
        HOSTILE_WORKFLOW
    )
    async with LoopbackServer(answer(HOSTILE), refusal(HOSTILE_ERROR)) as server:
        anthropic_env(server.url)
        app = make_app(make_engine(workspace, provider=None))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await booted(pilot)
            # The library lists the workspace's workflow description: inert, markup as text.
            # (The file holds the raw bytes: the list of workflows reads descriptions as text.)
            await highlight(pilot, "workflow:tricky")
            library = screen_text(app)
            assert "Say [b]hi[/b] " in library and "wf-title" in library

            # 1. An answer streamed from the server through engine, bus and bridge to a pane.
            first = app.start_agent("helper", "say something")
            await wait_for(
                pilot,
                lambda: first in app.session.runs and app.session.runs[first].status == "completed",
                "the first run to complete",
            )
            deck = app.main.query_one("#panes", PaneDeck)
            await wait_for(pilot, lambda: deck.large_pane is not None, "the answer's pane")
            pane = deck.large_pane
            await wait_for(pilot, lambda: "over" in pane.text, "the whole answer in the pane")
            await pane.rendered()
            shown = screen_text(app)
            assert "\\x1b]52;c;cGFyYWNsZQ==\\x1b\\" in shown
            assert "\\x1b]0;pwned\\x07" in shown
            assert "\\x1b[2J" in shown and "\\x9b31m" in shown
            assert "\\u202eevil\\u202c" in shown and "and\\rover" in shown
            # What `c` copies is what is shown: pasted into a terminal, it does nothing either.
            assert "\x1b" not in pane.text and "\\x1b]52" in pane.text

            # 2. The server refuses the next call with a hostile message: a toast says so.
            second = app.start_agent("helper", "again")
            await wait_for(
                pilot,
                lambda: second in app.session.runs and app.session.runs[second].status == "failed",
                "the second run to fail",
            )
            await wait_for(
                pilot, lambda: "\\x1b]52;c;ZXJyb3I=" in screen_text(app), "the error toast"
            )
            toasts = screen_text(app)
            assert "[link=https://paracle.invalid]x[/link]" in toasts  # shown, not acted on

            # 3. The recorded run, opened from the history: its transcript holds the answer.
            app.clear_notifications()  # toasts would cover the transcript
            async with asyncio.timeout(10):
                while await app.runs.count_runs() < 2:
                    await pilot.pause(0.05)
            await pilot.press("h")
            assert isinstance(app.screen, HistoryScreen)
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, "the two recorded runs")
            table.move_cursor(row=1)  # newest first: the completed run is second
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run")
            detail = app.screen
            await wait_for(pilot, lambda: "pwned" in detail.transcript, "the transcript")
            transcript = detail.query_one("#detail-transcript")
            await wait_for(pilot, lambda: "over" in transcript.text, "the transcript in its pane")
            await transcript.rendered()
            recorded = screen_text(app)
            assert "\\x1b]52;c;cGFyYWNsZQ==" in recorded and "\\x1b]0;pwned\\x07" in recorded


async def test_an_approval_shows_a_hostile_step_answer_inert(
    workspace: Path, anthropic_env
) -> None:
    async with LoopbackServer(answer("A draft."), answer(HOSTILE)) as server:
        anthropic_env(server.url)
        app = make_app(make_engine(workspace, provider=None))
        async with app.run_test(size=(120, 40)) as pilot:
            await booted(pilot)
            app.start_workflow("review", {"topic": "walruses"})
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, ApprovalModal) and app.screen.query("#approval-output")
                ),
                "the approval dialog",
            )
            body = app.screen.query_one("#approval-output")
            await wait_for(pilot, lambda: "over" in body.text, "the step's answer in the dialog")
            await body.rendered()
            shown = screen_text(app)
            assert "\\x1b]52;c;cGFyYWNsZQ==\\x1b\\" in shown
            assert "\\x1b]0;pwned\\x07" in shown
            await pilot.press("n")
            await wait_for(pilot, lambda: not app.session.running(), "the run to end")


# --------------------------------------------------------------------------- the real terminal


class Tmux:
    """A private tmux server (its own socket, no config) holding one 120x40 pane."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr.strip()}"
        return done.stdout

    def value(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "paracle", fmt).strip()


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    # A short path: a unix socket path is limited to about 100 bytes.
    server = Tmux(Path("/tmp") / f"paracle-tmux-{uuid.uuid4().hex[:12]}")
    try:
        yield server
    finally:
        subprocess.run(
            ["tmux", "-S", str(server.socket), "kill-server"], capture_output=True, timeout=10
        )
        server.socket.unlink(missing_ok=True)


async def poll(condition: Callable[[], object], what: str, within: float) -> None:
    """Check `condition` every 0.1 s (the loop keeps serving meanwhile); fail naming `what`."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 (tmux is another process: no event to await)
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:.0f}s waiting for {what}") from None


async def test_paracle_in_tmux_keeps_a_hostile_answer_from_the_clipboard_and_title(
    workspace: Path, tmp_path: Path, tmux: Tmux
) -> None:
    async with LoopbackServer(answer(HOSTILE)) as server:
        env = cli_env(tmp_path / "home", ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=server.url)
        env.pop("NO_COLOR", None)
        paracle = [sys.executable, "-m", "paracle_tui.cli", "--workspace", str(workspace)]
        paracle += ["run", "helper", "--task", "say something", "--tui"]
        # The pane waits for a key before starting paracle, so its title is set first.
        command = f"read go; exec {shlex.join(paracle)}"
        # The application's own requests to set the clipboard and title are honoured.
        tmux("start-server", ";", "set-option", "-g", "set-clipboard", "on", ";",
             "set-option", "-g", "remain-on-exit", "on", ";",
             "new-session", "-d", "-s", "paracle", "-x", "120", "-y", "40", "-c", str(ROOT),
             "env", "-i", *(f"{k}={v}" for k, v in env.items()),
             "sh", "-c", command)  # fmt: skip
        tmux("select-pane", "-t", "paracle", "-T", "paracle-test")
        assert tmux.value("#{pane_title}") == "paracle-test"
        tmux("send-keys", "-t", "paracle", "Enter")

        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", "paracle")

        # The answer's last word shows whether or not its controls were made inert.
        await poll(lambda: "over" in screen(), "the whole answer on the screen", 60)
        assert tmux("list-buffers") == "", "OSC 52 reached tmux: a paste buffer was set"
        assert tmux.value("#{pane_title}") == "paracle-test", "OSC 0 changed the pane title"
        shown = screen()
        assert "\\x1b]52;c;cGFyYWNsZQ==\\x1b\\" in shown
        assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2J" in shown
        assert "and\\rover" in shown
        assert len(server.requests) == 1
        tmux("send-keys", "-t", "paracle", "q")
        await poll(lambda: tmux.value("#{pane_dead}") == "1", "paracle to quit on q", 30)
