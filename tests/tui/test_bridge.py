"""The bridge: engine events folded into the session and posted as a few messages per frame."""

from __future__ import annotations

from harness import wait_for
from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.worker import Worker

from paracle_engine import events as ev
from paracle_engine.events import EventBus
from paracle_engine.models import Usage
from paracle_tui.bridge import (
    EngineBridge,
    RunBegan,
    RunEnded,
    StatusChanged,
    StepChanged,
    StepText,
)


class Sink(App[None]):
    """Collects what the bridge posts."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Message] = []

    def on_run_began(self, m: RunBegan) -> None:
        self.got.append(m)

    def on_step_text(self, m: StepText) -> None:
        self.got.append(m)

    def on_step_changed(self, m: StepChanged) -> None:
        self.got.append(m)

    def on_run_ended(self, m: RunEnded) -> None:
        self.got.append(m)

    def on_status_changed(self, m: StatusChanged) -> None:
        self.got.append(m)


def started(run_id: str = "r1") -> ev.RunStarted:
    return ev.RunStarted(
        run_id=run_id,
        kind="workflow",
        target="wf",
        step_ids=["a", "b"],
        edges={"a": [], "b": ["a"]},
    )


async def pump_until_closed(pilot: Pilot[None], bus: EventBus, pump: Worker[None]) -> None:
    """Close the bus and let the bridge's pump fold what is left, then end."""
    await bus.aclose()
    await wait_for(pilot, lambda: pump.is_finished, "the pump to end once the bus closed")
    await pump.wait()  # raises what the pump died of, if it failed
    await pilot.pause()


async def test_one_frame_of_deltas_becomes_one_text_message_per_step() -> None:
    app = Sink()
    async with app.run_test() as pilot:
        bus = EventBus()
        bridge = EngineBridge(bus, app, clock=lambda: 100.0)
        pump = app.run_worker(bridge.run())
        bus.publish(started())
        bus.publish(
            ev.StepStarted(run_id="r1", step_id="a", agent="x", provider="simulated", model="m")
        )
        for word in ("one ", "two ", "three"):
            bus.publish(ev.TextDelta(run_id="r1", step_id="a", text=word))
        bus.publish(
            ev.UsageReported(
                run_id="r1", step_id="a", usage=Usage(3, 4), provider="simulated", model="m"
            )
        )
        bus.publish(ev.StepCompleted(run_id="r1", step_id="a", output="one two three"))
        await pump_until_closed(pilot, bus, pump)
        kinds = [type(m).__name__ for m in app.got]
        # Text before the state change, so the pane is full when the step turns done.
        assert kinds == ["RunBegan", "StepText", "StepChanged", "StatusChanged"]
        text = app.got[1]
        assert (text.step.step_id, text.text, text.end) == ("a", "one two three", 13)
        run = bridge.session.runs["r1"]
        step = run.steps["a"]
        assert (step.status, step.text, step.tokens) == ("completed", "one two three", 7)
        assert run.steps["b"].status == "pending"
        assert bridge.session.usage[("simulated", "m")] == Usage(3, 4)


async def test_the_pump_ends_when_the_bus_closes_and_reports_the_end_of_runs() -> None:
    app = Sink()
    async with app.run_test() as pilot:
        bus = EventBus()
        bridge = EngineBridge(bus, app, frame=0.0)
        pump = app.run_worker(bridge.run())
        bus.publish(started())
        bus.publish(ev.StepFailed(run_id="r1", step_id="a", error="boom"))
        bus.publish(ev.StepSkipped(run_id="r1", step_id="b", reason="a failed"))
        bus.publish(ev.RunFailed(run_id="r1", error="step a failed: boom"))
        await bus.aclose()
        await wait_for(pilot, lambda: pump.is_finished, "the pump to end once the bus closed")
        await pump.wait()  # raises what the pump died of, if it failed
        await pilot.pause()
        ended = [m for m in app.got if isinstance(m, RunEnded)]
        assert len(ended) == 1 and ended[0].run.status == "failed"
        run = bridge.session.runs["r1"]
        assert (run.steps["a"].status, run.steps["a"].note) == ("failed", "boom")
        assert (run.steps["b"].status, run.steps["b"].note) == ("skipped", "a failed")
        assert run.error == "step a failed: boom"


async def test_retries_waits_and_breakers_reach_the_status_figures() -> None:
    app = Sink()
    async with app.run_test() as pilot:
        bus = EventBus()
        bridge = EngineBridge(bus, app, clock=lambda: 50.0)
        pump = app.run_worker(bridge.run())
        bus.publish(started())
        bus.publish(
            ev.RetryScheduled(
                run_id="r1",
                step_id="a",
                provider="anthropic",
                attempt=2,
                max_attempts=4,
                delay=1.5,
                error="503",
            )
        )
        bus.publish(
            ev.RateLimitWaiting(
                run_id="r1", step_id="a", provider="anthropic", seconds=12.0, reason="tokens"
            )
        )
        bus.publish(
            ev.CircuitStateChanged(run_id="r1", endpoint="anthropic", state="open", retry_in=30)
        )
        await pump_until_closed(pilot, bus, pump)
        session = bridge.session
        assert session.retries == 1
        assert session.rate_waits["anthropic"] == (62.0, "tokens")
        assert session.breakers == {"anthropic": "open"}
        assert session.runs["r1"].steps["a"].note == "rate limit: waiting 12.0s"


async def test_a_retried_attempt_starts_its_text_afresh() -> None:
    app = Sink()
    async with app.run_test() as pilot:
        bus = EventBus()
        bridge = EngineBridge(bus, app, frame=0.0)
        pump = app.run_worker(bridge.run())
        bus.publish(started())
        bus.publish(ev.StepStarted(run_id="r1", step_id="a", agent="x", provider="p", model="m"))
        bus.publish(ev.TextDelta(run_id="r1", step_id="a", text="first try"))
        runs = bridge.session.runs
        await wait_for(
            pilot, lambda: "r1" in runs and runs["r1"].steps["a"].text == "first try", "try one"
        )
        bus.publish(
            ev.StepStarted(run_id="r1", step_id="a", agent="x", provider="p", model="m", attempt=2)
        )
        bus.publish(ev.TextDelta(run_id="r1", step_id="a", text="second"))
        await pump_until_closed(pilot, bus, pump)
        step = bridge.session.runs["r1"].steps["a"]
        assert (step.text, step.length, step.note) == ("second", 6, "attempt 2")
