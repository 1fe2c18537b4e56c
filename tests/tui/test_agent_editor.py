"""Creating and editing an agent in the app: saved through the engine, listed as saved."""

from __future__ import annotations

from pathlib import Path

from harness import booted, highlight, make_app, make_engine, type_text, wait_for
from textual.widgets import Input, Select, TextArea

from paracle_tui.screens.agent_editor import AgentEditor
from paracle_tui.widgets.library import Library


async def test_create_an_agent_then_edit_it(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await pilot.press("n")
        editor = app.screen
        assert isinstance(editor, AgentEditor)
        await type_text(pilot, "Otter Expert")
        editor.query_one("#parent", Select).value = "helper"
        await pilot.pause()
        # Choosing a parent brings its provider and model.
        assert editor.query_one("#model", Input).value == "claude-sonnet-4.5"
        editor.query_one("#temperature", Input).value = "0.3"
        editor.query_one("#system-prompt", TextArea).text = "You know otters."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AgentEditor), "the save")
        spec = app.engine.agents["otter-expert"]
        assert (spec.origin, spec.parent, spec.temperature) == ("saved", "helper", 0.3)
        assert spec.lineage == ["helper"]
        library = app.main.query_one(Library)
        assert library.highlighted_id == "agent:otter-expert"
        prompt = library.get_option("agent:otter-expert").prompt
        assert "saved" in str(prompt) and "otter-expert" in str(prompt)

        # Edit it: the id stays, the model changes.
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, AgentEditor)
        assert editor.query_one("#agent-id", Input).disabled
        editor.query_one("#model", Input).value = "claude-haiku-4.5"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: app.engine.agents["otter-expert"].model == "claude-haiku-4.5", "edit"
        )
        # It is in the history database, so a new session lists it too.
        assert (await app.engine.history.agents.get("otter-expert")).model == "claude-haiku-4.5"


async def test_the_form_refuses_what_the_engine_would(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await highlight(pilot, "agent:helper")
        # `e` on a workspace agent starts a new agent based on it.
        await pilot.press("e")
        editor = app.screen
        assert isinstance(editor, AgentEditor)
        assert editor.query_one("#parent", Select).value == "helper"
        await type_text(pilot, "helper")
        await pilot.press("ctrl+s")
        error = editor.query_one("#agent-error")
        assert "exists already" in str(error.render())
        editor.query_one("#name", Input).value = "Second helper"
        editor.query_one("#temperature", Input).value = "7"
        await pilot.press("ctrl+s")
        assert "from 0 to 2" in str(error.render())
        await pilot.press("escape")
        assert "second-helper" not in app.engine.agents
