import asyncio
import logging

from paracle_engine.events import (
    EventBus,
    RunCompleted,
    RunStarted,
    StepCompleted,
    StepStarted,
    TextDelta,
)


def delta(text: str, step: str = "a", run: str = "r1") -> TextDelta:
    return TextDelta(run_id=run, step_id=step, text=text)


def test_failing_handler_does_not_hide_others_or_reach_the_publisher(caplog):
    bus = EventBus()
    seen: list[str] = []

    def broken(event):
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append(type(e).__name__))
    with caplog.at_level(logging.ERROR):
        bus.publish(delta("x"))
    assert seen == ["TextDelta"]
    assert "boom" in caplog.text


def test_typed_subscription_and_unsubscribe():
    bus = EventBus()
    seen = []
    off = bus.subscribe(seen.append, RunStarted)
    bus.publish(delta("x"))
    bus.publish(RunStarted(run_id="r", kind="agent", target="a"))
    off()
    bus.publish(RunStarted(run_id="r2", kind="agent", target="a"))
    assert [e.run_id for e in seen] == ["r"]


def test_subscription_coalesces_deltas_per_step_without_losing_text():
    bus = EventBus()
    sub = bus.subscription()
    for ch in "hello":
        bus.publish(delta(ch, "a"))
        bus.publish(delta(ch.upper(), "b"))
    bus.publish(StepCompleted(run_id="r1", step_id="a", output="hello"))
    bus.publish(delta("!", "a"))
    events = sub.drain()
    assert [(type(e).__name__, getattr(e, "text", None)) for e in events] == [
        ("TextDelta", "hello"),
        ("TextDelta", "HELLO"),
        ("StepCompleted", None),
        ("TextDelta", "!"),
    ]


def test_coalescing_never_mutates_the_published_event():
    bus = EventBus()
    sub1 = bus.subscription()
    sub2 = bus.subscription()
    first = delta("a")
    bus.publish(first)
    bus.publish(delta("b"))
    assert first.text == "a"
    assert [e.text for e in sub1.drain()] == ["ab"]
    assert [e.text for e in sub2.drain()] == ["ab"]


def test_delta_after_a_consumed_delta_starts_a_new_item():
    bus = EventBus()
    sub = bus.subscription()
    bus.publish(delta("a"))
    assert sub.get_nowait().text == "a"
    bus.publish(delta("b"))
    assert sub.get_nowait().text == "b"


def test_run_event_keeps_order_with_pending_deltas_of_that_run():
    bus = EventBus()
    sub = bus.subscription()
    bus.publish(delta("a"))
    bus.publish(RunCompleted(run_id="r1"))
    bus.publish(delta("b"))
    kinds = [(type(e).__name__, getattr(e, "text", "")) for e in sub.drain()]
    assert kinds == [("TextDelta", "a"), ("RunCompleted", ""), ("TextDelta", "b")]


async def test_async_reader_wakes_and_close_ends_iteration():
    bus = EventBus()
    sub = bus.subscription()
    received = []

    async def reader():
        async for event in sub:
            received.append(event)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    bus.publish(StepStarted(run_id="r", step_id="s", agent="a", provider="p", model="m"))
    sub.close()
    await asyncio.wait_for(task, 5)
    assert len(received) == 1
