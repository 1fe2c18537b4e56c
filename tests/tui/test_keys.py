"""The keys screen and the first-run onboarding, against an in-memory keyring."""

from __future__ import annotations

from pathlib import Path

from harness import booted, make_app, make_engine, type_text, wait_for
from textual.widgets import DataTable

from paracle_engine.secrets import SERVICE
from paracle_tui.screens.keys import KeysScreen
from paracle_tui.screens.onboarding import OnboardingModal

KEY = "sk-ant-api03-" + "Q" * 40 + "-a1b2"


def table_rows(screen: KeysScreen) -> dict[str, list[str]]:
    table = screen.query_one(DataTable)
    return {
        str(r[0]): [str(c) for c in r]
        for r in (table.get_row_at(i) for i in range(table.row_count))
    }


async def test_set_and_delete_a_key_from_the_keys_screen(workspace: Path, memory_keyring) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await pilot.press("k")
        screen = app.screen
        assert isinstance(screen, KeysScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0, "the providers")
        assert table_rows(screen)["anthropic"][1] == "—"
        table.move_cursor(row=table.get_row_index("anthropic"))
        await pilot.press("s")
        assert app.focused is screen.query_one("#key-input")
        await type_text(pilot, KEY)
        await pilot.press("enter")
        await wait_for(pilot, lambda: table_rows(screen)["anthropic"][1] == "OS keyring", "the key")
        assert memory_keyring.entries[(SERVICE, "anthropic")] == KEY
        # Shown masked, never whole.
        assert table_rows(screen)["anthropic"][2] == "sk-ant-…a1b2"
        assert KEY not in app.export_screenshot()
        assert app.focused is table
        await pilot.press("d")
        await wait_for(pilot, lambda: table_rows(screen)["anthropic"][1] == "—", "the deletion")
        assert (SERVICE, "anthropic") not in memory_keyring.entries
        await pilot.press("escape")
        assert app.screen is app.main


async def test_an_environment_key_is_listed_as_such(workspace: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "Z" * 40 + "w9x8")
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await pilot.press("k")
        screen = app.screen
        await wait_for(pilot, lambda: "openai" in table_rows(screen), "the providers")
        assert table_rows(screen)["openai"][1:4] == [
            "environment",
            "sk-proj…w9x8",
            "OPENAI_API_KEY",
        ]


async def test_onboarding_stores_a_pasted_key(workspace: Path, memory_keyring) -> None:
    # No --provider: the workspace's agents use anthropic, which has no key yet.
    app = make_app(make_engine(workspace, provider=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OnboardingModal), "the onboarding")
        assert app.screen.provider == "anthropic"
        await type_text(pilot, KEY)
        await pilot.press("enter")
        await wait_for(pilot, app.booted.is_set, "the app to be ready")
        assert memory_keyring.entries[(SERVICE, "anthropic")] == KEY
        assert app.engine.providers.force_provider is None


async def test_onboarding_can_continue_with_the_simulated_provider(workspace: Path) -> None:
    app = make_app(make_engine(workspace, provider=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OnboardingModal), "the onboarding")
        await pilot.press("tab", "tab", "enter")
        await wait_for(pilot, app.booted.is_set, "the app to be ready")
        assert app.engine.providers.force_provider == "simulated"
        app.start_agent("helper", "hello")
        await wait_for(pilot, lambda: "run-0001" in app.session.runs, "the run")
        run = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: run.status == "completed", "a simulated answer")
        assert run.provider == "simulated"
