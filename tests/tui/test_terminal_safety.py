"""Nothing from outside reaches the terminal raw: answers, server errors, history, workspace text.

A model answer, an error body or a cloned workspace can hold terminal controls (`ESC ] 52`
sets the clipboard, `ESC ] 0` the title, `ESC [ 2J` clears the screen). Rich and Textual pass
them through, so the app shows them inert (`\\x1b]52`), through `paracle_engine.terminal`.
These tests drive the real path (a loopback server speaking the Messages API, the engine, its
bus, the bridge, the widgets) and read every segment the screen would write.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from harness import booted, highlight, make_app, make_engine, wait_for
from rich.segment import Segment
from support.loopback import LoopbackServer, Response, sse_event
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
    """Every line the screen would write now, after checking no segment holds a control."""
    lines: list[str] = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        segments: list[Segment] = list(strip)
        for segment in segments:
            found = CONTROL.search(segment.text)
            assert found is None, (
                f"line {y} writes {found.group()!r} to the terminal: {segment.text!r}"
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
                pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval dialog"
            )
            modal = app.screen
            body = modal.query_one("#approval-output")
            await wait_for(pilot, lambda: "over" in body.text, "the step's answer in the dialog")
            await body.rendered()
            shown = screen_text(app)
            assert "\\x1b]52;c;cGFyYWNsZQ==\\x1b\\" in shown
            assert "\\x1b]0;pwned\\x07" in shown
            await pilot.press("n")
            await wait_for(pilot, lambda: not app.session.running(), "the run to end")
