"""Helpers for the app's pilot and snapshot tests: a small workspace, engines, waits, scripted runs.

Everything is deterministic: the simulated provider, run ids from a counter, fixed event times
for anything a snapshot shows, and waits that poll a condition with a deadline and name it when
it runs out. A test that must catch a run while it streams holds its streams (`hold_streams`)
instead of racing them.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from paracle_engine import events as ev
from paracle_engine.config import Settings
from paracle_engine.engine import Engine
from paracle_engine.models import CompletionRequest, StreamChunk, Usage
from paracle_engine.providers.simulated import SimulatedProvider
from paracle_engine.secrets import KeyStore
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace
from paracle_tui.app import ParacleApp
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.response_pane import ResponseBody, ResponsePane

# 2026-01-05 09:30:00 UTC: the time every scripted run starts at.
T0 = 1767605400.0

MANIFEST = """\
defaults:
  provider: anthropic
  model: claude-sonnet-4.5
agents:
  - id: helper
    name: Helper
    description: Answers questions briefly
    system_prompt: You answer briefly and plainly.
  - id: reviewer
    name: Reviewer
    description: Checks a draft for mistakes
    parent: helper
    system_prompt: You check drafts for mistakes.
"""

REVIEW = """\
name: review
description: A draft, then a reviewer checks it; a person approves the check.
inputs:
  topic: {type: string, required: true, description: What to write about}
  depth: {type: string, enum: [quick, deep], default: quick}
  files: {type: array, description: Files to mention}
  strict: {type: boolean, default: false}
steps:
  - id: draft
    agent: helper
    prompt: "Write about {{ inputs.topic }} at {{ inputs.depth }} depth."
  - id: check
    agent: reviewer
    depends_on: [draft]
    requires_approval: true
    prompt: "Check this draft about {{ inputs.topic }}: {{ steps.draft.output }}"
"""


def write_workspace(root: Path) -> Path:
    """A two-agent workspace with one workflow that asks for approval."""
    parac = root / ".parac"
    (parac / "agents").mkdir(parents=True)
    (parac / "workflows" / "definitions").mkdir(parents=True)
    (parac / "agents" / "manifest.yaml").write_text(MANIFEST)
    (parac / "workflows" / "definitions" / "review.yaml").write_text(REVIEW)
    return root


def make_engine(
    workspace: Path | None = None,
    *,
    provider: str | None = "simulated",
    pace: float = 0.0,
    history: bool = True,
) -> Engine:
    """An engine on `workspace` (the demo when None), not yet started: the app starts it."""
    ws = load_workspace(workspace or demo_workspace_path())
    settings = Settings(simulated_pace=pace)
    return Engine(ws, settings=settings, provider=provider, keys=KeyStore(), history=history)


class HeldStreams(SimulatedProvider):
    """The simulated provider, holding every stream after its first chunk until released.

    A run caught mid-stream stays there however slow the machine is: nothing races it. Each
    stream is kept in `streams` in the order it started; `release(i)` lets one go on,
    `release()` all of them (and those still to come). A stream held past `HOLD_LIMIT` s
    fails its step with an error saying so, rather than hanging the test.
    """

    HOLD_LIMIT = 30.0

    def __init__(self) -> None:
        super().__init__(pace=0.0)
        self.streams: list[tuple[CompletionRequest, asyncio.Event]] = []
        self._all = asyncio.Event()

    def release(self, index: int | None = None) -> None:
        if index is None:
            self._all.set()
            for _, gate in self.streams:
                gate.set()
        else:
            self.streams[index][1].set()

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        gate = asyncio.Event()
        if self._all.is_set():
            gate.set()
        self.streams.append((request, gate))
        number = len(self.streams)
        first = True
        async for chunk in super().stream(request):
            yield chunk
            if first and chunk.text:
                first = False
                try:
                    async with asyncio.timeout(self.HOLD_LIMIT):
                        await gate.wait()
                except TimeoutError:
                    raise TimeoutError(
                        f"a simulated stream held by the test was not released within "
                        f"{self.HOLD_LIMIT:g} s (stream {number} of this engine)"
                    ) from None


def hold_streams(engine: Engine) -> HeldStreams:
    """Make `engine`'s simulated calls go through a `HeldStreams` (before the app starts it)."""
    held = HeldStreams()
    engine.providers.install("simulated", held)
    return held


def counter_ids(prefix: str = "run") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}-{next(numbers):04d}"


def make_app(engine: Engine, **kwargs: Any) -> ParacleApp:
    kwargs.setdefault("run_ids", counter_ids())
    return ParacleApp(engine, **kwargs)


async def wait_for(
    pilot: Pilot[Any],
    condition: Callable[[], Any] | Callable[[], Awaitable[Any]],
    what: str,
    within: float = 10.0,
) -> None:
    """Poll `condition` (a function, or a coroutine function) between frames until it holds;
    fail naming `what` after `within` s."""
    try:
        async with asyncio.timeout(within):
            while True:
                held = condition()
                if inspect.isawaitable(held):
                    held = await held
                if held:
                    return
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:g} s waiting for {what}") from None


async def booted(pilot: Pilot[Any]) -> ParacleApp:
    app = pilot.app
    assert isinstance(app, ParacleApp)
    await wait_for(pilot, app.booted.is_set, "the app to boot (engine open, bridge running)")
    await pilot.pause()
    return app


def deck_shows(app: ParacleApp, run_id: str) -> bool:
    """Whether the deck shows `run_id` as the session holds it: a pane for every step that
    started or wrote, with all of the step's text and its status. The session changes as the
    bridge folds events in; the deck follows only once the main screen handled the messages."""
    from paracle_engine.terminal import terminal_safe

    run = app.session.runs.get(run_id)
    deck = app.main.query_one(PaneDeck)
    if run is None or deck.run is not run:
        return False
    panes = {pane.step_id: pane for pane in deck.query(ResponsePane)}
    for step_id in run.step_ids:
        step = run.steps.get(step_id)
        if step is None or (step.status == "pending" and not step.length):
            continue
        pane = panes.get(step_id)
        if pane is None or pane.status != step.status:
            return False
        if pane.text != terminal_safe(step.text):
            return False
    return deck.large_step is not None


async def deck_caught_up(pilot: Pilot[Any], run_id: str) -> None:
    app = pilot.app
    assert isinstance(app, ParacleApp)
    await wait_for(pilot, lambda: deck_shows(app, run_id), f"the deck to show {run_id} as it is")


async def all_drawn(pilot: Pilot[Any]) -> None:
    """Every answer on every screen of the stack drawn (hidden ones return at once)."""
    for screen in pilot.app.screen_stack:
        for body in screen.query(ResponseBody):
            await body.rendered()


async def highlight(pilot: Pilot[Any], item: str) -> None:
    """Move the library's cursor to `agent:<id>` or `workflow:<name>` with the arrow keys."""
    app = pilot.app
    library = app.screen.query_one("#library-list")
    library.focus()
    for _ in range(library.option_count + 1):
        if library.highlighted_id == item:
            return
        await pilot.press("down")
    raise AssertionError(f"{item} is not in the library")


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type into the focused field as a paste would (a key press costs a pilot ~50 ms)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.focused, Input | TextArea), "a focused field")
    field = app.focused
    if isinstance(field, Input):
        field.insert_text_at_cursor(text)
    elif isinstance(field, TextArea):
        field.insert(text)
    else:
        raise AssertionError(f"cannot type into {field!r}")
    await pilot.pause()


def freeze_cursors(app: ParacleApp) -> None:
    """No blinking cursor in a snapshot."""
    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
        for area in screen.query(TextArea):
            area.cursor_blink = False


# --------------------------------------------------------------------------- scripted runs

RESEARCH_STEPS = ["plan", "background", "evidence", "risks", "synthesize"]
RESEARCH_EDGES = {
    "plan": [],
    "background": ["plan"],
    "evidence": ["plan"],
    "risks": ["plan"],
    "synthesize": ["background", "evidence", "risks"],
}

PLAN_TEXT = dedent(
    """\
    ## Plan

    Take the angle of **cost and control**: when does running models on your own
    hardware pay off, and what does it take to run them well?

    - What does a hosted API cost at our volume?
    - What hardware serves a 70B model at useful speed?
    - Who operates it, and what breaks?
    """
)
BACKGROUND_TEXT = dedent(
    """\
    ## Background

    Open-weight models now come within reach of hosted ones on many tasks. Serving
    them needs GPUs with enough memory for the weights and the KV cache, and an
    inference server such as vLLM or llama.cpp.
    """
)
EVIDENCE_TEXT = dedent(
    """\
    ## Evidence

    1. Teams above roughly 50M tokens a day report lower cost on their own GPUs.
    2. Quantised 8-bit models keep most of their quality on common benchmarks.
    """
)
RISKS_TEXT = "## Risks\n\n- GPUs sit idle at night: utilisation decides the cost.\n"
REPORT_TEXT = dedent(
    """\
    # Own hardware or hosted API?

    **Short answer:** a hosted API until volume is high and steady; then a small
    self-hosted cluster for the bulk of traffic, with the API as overflow.

    ## Why

    - Cost falls below the API once GPUs stay busy most of the day.
    - Quality is close enough for summarising and extraction work.

    ## Risks

    - Idle GPUs, and the people needed to keep them running.
    """
)
TEXTS = {
    "plan": PLAN_TEXT,
    "background": BACKGROUND_TEXT,
    "evidence": EVIDENCE_TEXT,
    "risks": RISKS_TEXT,
    "synthesize": REPORT_TEXT,
}
AGENTS = {
    "plan": "researcher",
    "background": "researcher",
    "evidence": "researcher",
    "risks": "critic",
    "synthesize": "senior-writer",
}


def _start(bus: ev.EventBus, run_id: str, step: str, ts: float) -> None:
    bus.publish(
        ev.StepStarted(
            run_id=run_id,
            step_id=step,
            ts=ts,
            agent=AGENTS[step],
            provider="simulated",
            model="claude-sonnet-4.5",
        )
    )


def _finish(bus: ev.EventBus, run_id: str, step: str, ts: float, tokens: int) -> None:
    text = TEXTS[step]
    bus.publish(ev.TextDelta(run_id=run_id, step_id=step, ts=ts, text=text))
    usage = Usage(tokens // 3, tokens - tokens // 3)
    bus.publish(
        ev.UsageReported(
            run_id=run_id,
            step_id=step,
            ts=ts,
            usage=usage,
            provider="simulated",
            model="claude-sonnet-4.5",
        )
    )
    bus.publish(ev.StepCompleted(run_id=run_id, step_id=step, ts=ts, output=text, usage=usage))


def script_research_run(bus: ev.EventBus, run_id: str, *, finished: bool) -> None:
    """Publish the research_report workflow mid-run (or finished) with fixed times."""
    bus.publish(
        ev.RunStarted(
            run_id=run_id,
            ts=T0,
            kind="workflow",
            target="research_report",
            inputs={"topic": "Running models on your own hardware", "length": "short"},
            provider="simulated",
            model="claude-sonnet-4.5",
            step_ids=list(RESEARCH_STEPS),
            edges={k: list(v) for k, v in RESEARCH_EDGES.items()},
        )
    )
    for step in RESEARCH_STEPS:
        bus.publish(
            ev.StepPending(
                run_id=run_id,
                step_id=step,
                ts=T0,
                agent=AGENTS[step],
                depends_on=RESEARCH_EDGES[step],
            )
        )
    _start(bus, run_id, "plan", T0)
    _finish(bus, run_id, "plan", T0 + 3.2, 412)
    for i, step in enumerate(("background", "evidence", "risks")):
        _start(bus, run_id, step, T0 + 3.3 + i * 0.1)
    if not finished:
        # Mid-run: two steps stream, one is done, the last one waits for them.
        bus.publish(
            ev.TextDelta(run_id=run_id, step_id="background", ts=T0 + 5, text=BACKGROUND_TEXT[:160])
        )
        bus.publish(
            ev.TextDelta(run_id=run_id, step_id="evidence", ts=T0 + 5, text=EVIDENCE_TEXT[:120])
        )
        _finish(bus, run_id, "risks", T0 + 5.4, 236)
        return
    _finish(bus, run_id, "background", T0 + 7.9, 538)
    _finish(bus, run_id, "evidence", T0 + 8.4, 497)
    _finish(bus, run_id, "risks", T0 + 5.4, 236)
    _start(bus, run_id, "synthesize", T0 + 8.5)
    _finish(bus, run_id, "synthesize", T0 + 14.1, 1204)
    bus.publish(ev.RunCompleted(run_id=run_id, ts=T0 + 14.1, output=REPORT_TEXT))
