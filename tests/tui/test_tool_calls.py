"""Tool calls in the app: the engine's tool events, through the bus and the bridge, to the pane
(a compact line that opens), the DAG node, and the dialog that asks a person."""

from __future__ import annotations

from harness import booted, deck_caught_up, make_app, make_engine, wait_for
from test_terminal_safety import CONTROL, screen_text

from paracle_engine import events as ev
from paracle_tui.app import ParacleApp
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.tool_calls import ToolCallLine

RUN = "tool-run"
S = {"run_id": RUN, "step_id": "helper"}
HOSTILE = "top\x1b]52;c;cHduZWQ=\x07secret\x1b[2J [link=https://x.example]click[/link]\x9b31m"


def start_run(bus: ev.EventBus) -> None:
    bus.publish(ev.RunStarted(run_id=RUN, kind="agent", target="helper", step_ids=["helper"]))
    bus.publish(ev.StepStarted(**S, agent="helper", provider="simulated", model="m"))
    bus.publish(ev.TextDelta(**S, text="Let me read the notes.\n\n"))


def call(bus: ev.EventBus, call_id: str, name: str, summary: str, **finished: object) -> None:
    bus.publish(
        ev.ToolCallStarted(
            **S, call_id=call_id, name=name, summary=summary, arguments={"path": summary}
        )
    )
    if finished:
        bus.publish(ev.ToolCallFinished(**S, call_id=call_id, name=name, **finished))  # type: ignore[arg-type]


def lines(app: ParacleApp) -> list[ToolCallLine]:
    return list(app.main.query(ToolCallLine))


async def test_a_tool_call_shows_as_a_compact_line_that_opens_to_its_input_and_result() -> None:
    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        bus = app.engine.bus
        start_run(bus)
        call(bus, "c1", "read_file", "notes.txt")
        await deck_caught_up(pilot, RUN)
        await wait_for(
            pilot,
            lambda: [w.plain_text for w in lines(app)] == ["▸ read_file notes.txt · running…"],
            "the running call's line",
        )
        bus.publish(
            ev.ToolCallFinished(
                **S, call_id="c1", name="read_file", status="ok", result="alpha\nbeta", duration=0.1
            )
        )
        call(bus, "c2", "write_file", "out.txt")
        bus.publish(ev.ToolDecisionNeeded(**S, call_id="c2", name="write_file", preview="+x"))
        bus.publish(
            ev.ToolDecided(**S, call_id="c2", name="write_file", decision="deny", rule="a person")
        )
        bus.publish(ev.ToolCallFinished(**S, call_id="c2", name="write_file", status="denied"))
        want = ["▸ read_file notes.txt · 0.1s ✓", "✗ write_file out.txt · denied"]
        await wait_for(pilot, lambda: [w.plain_text for w in lines(app)] == want, "both lines")
        assert "▸ read_file notes.txt · 0.1s ✓" in screen_text(app)
        assert "beta" not in screen_text(app)
        # `t` on the pane goes to the last call; Up to the first; Enter opens it.
        pane = app.main.query_one(PaneDeck).large_pane
        assert pane is not None
        pane.body.focus()
        await pilot.press("t")
        first, second = lines(app)
        assert app.focused is second
        await pilot.press("up", "enter")
        assert app.focused is first and first.expanded
        await wait_for(pilot, lambda: "beta" in screen_text(app), "the opened call's result")
        text = screen_text(app)
        assert '"path": "notes.txt"' in text and "▾ read_file notes.txt" in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: "beta" not in screen_text(app), "the call closed again")
        # A click opens the denied one, with who decided.
        await pilot.click(second)
        await wait_for(
            pilot, lambda: "decided: deny (a person)" in screen_text(app), "the decision"
        )


async def test_a_hostile_tool_result_and_summary_are_shown_inert() -> None:
    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        bus = app.engine.bus
        start_run(bus)
        call(bus, "c1", "run_command", HOSTILE, status="error", result=HOSTILE, duration=0.2)
        await deck_caught_up(pilot, RUN)
        await wait_for(pilot, lambda: len(lines(app)) == 1, "the call's line")
        lines(app)[0].action_open()
        await wait_for(
            pilot, lambda: "secret" in screen_text(app).split("result")[-1], "the result"
        )
        text = screen_text(app)  # fails if any rendered segment holds a control
        assert "[link=https://x.example]click[/link]" in text  # brackets shown, never markup
        assert not CONTROL.search(lines(app)[0].plain_text)


async def test_the_dag_node_names_the_tool_running_and_a_call_waiting_for_a_person() -> None:
    from paracle_tui.widgets.dag_view import DagView

    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        bus = app.engine.bus
        start_run(bus)
        call(bus, "c1", "read_file", "notes.txt")
        dag = app.main.query_one(DagView)

        def node() -> tuple[str, str]:
            state = dag.state("helper")
            return (state.status, state.note or "") if state else ("", "")

        await wait_for(pilot, lambda: node() == ("running", "tool: read_file"), "tool: read_file")
        await wait_for(pilot, lambda: "tool: read_file" in screen_text(app), "the node's line")
        bus.publish(ev.ToolCallFinished(**S, call_id="c1", name="read_file", status="ok"))
        call(bus, "c2", "write_file", "out.txt")
        bus.publish(ev.ToolDecisionNeeded(**S, call_id="c2", name="write_file", preview="+x"))
        want = ("awaiting_approval", "asks you: write_file")
        await wait_for(pilot, lambda: node() == want, "the node waiting for a person")
        bus.publish(ev.ToolDecided(**S, call_id="c2", name="write_file", decision="allow"))
        await wait_for(pilot, lambda: node() == ("running", "tool: write_file"), "running again")
        bus.publish(ev.ToolCallFinished(**S, call_id="c2", name="write_file", status="ok"))
        await wait_for(pilot, lambda: node() == ("running", ""), "no tool running")


DIFF = """--- a/out.txt
+++ b/out.txt
@@ -1,2 +1,2 @@
 keep this line
-old \x1b]52;c;cHduZWQ=\x07text
+new [b]text[/b]
"""


async def test_the_ask_dialog_returns_each_answer_one_dialog_at_a_time_and_escape_denies() -> None:
    import asyncio

    from paracle_engine import ToolAsk
    from paracle_tui.screens.tool_ask import ToolAskModal, ToolDesk

    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        desk = ToolDesk(app)
        asks = [
            ToolAsk(run_id=RUN, step_id="helper", call_id=f"c{i}", name="write_file", preview=DIFF)
            for i in range(4)
        ]
        answers = [asyncio.ensure_future(desk.asker(ask)) for ask in asks]
        for i, key in enumerate(("y", "a", "n", "escape")):
            await wait_for(
                pilot,
                lambda i=i: isinstance(app.screen, ToolAskModal) and app.screen.ask is asks[i],
                f"the dialog of call {i}",
            )
            assert sum(isinstance(s, ToolAskModal) for s in app.screen_stack) == 1
            if i == 0:
                text = screen_text(app)  # the diff shown inert
                assert "+new [b]text[/b]" in text and "Allow for this run" in text
            await pilot.press(key)
        async with asyncio.timeout(10):
            got = await asyncio.gather(*answers)
        assert got == ["allow", "allow_run", "deny", "deny"]
        assert not isinstance(app.screen, ToolAskModal)
