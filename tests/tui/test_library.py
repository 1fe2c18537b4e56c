"""The library names the provider and model an agent's calls really go to."""

from __future__ import annotations

from pathlib import Path

from harness import booted, make_app, make_engine, wait_for
from textual.widgets import OptionList

from paracle_tui.screens.onboarding import OnboardingModal


def agent_lines(library: OptionList) -> dict[str, str]:
    """Each agent's option as plain text, by option id."""
    options = (library.get_option_at_index(i) for i in range(library.option_count))
    return {o.id: str(o.prompt) for o in options if o.id and o.id.startswith("agent:")}


async def test_a_forced_provider_is_what_the_library_and_details_name(workspace: Path) -> None:
    # The workspace's agents name anthropic; this session sends every call to simulated.
    app = make_app(make_engine(workspace, provider="simulated"))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        lines = agent_lines(app.main.query_one("#library-list", OptionList))
        assert set(lines) == {"agent:helper", "agent:reviewer"}
        for line in lines.values():
            assert "simulated · claude-sonnet-4.5" in line and "anthropic" not in line
        details = str(app.main.query_one("#details-text").render())
        assert "provider    simulated" in details
        assert "for this session; the agent names anthropic" in details


async def test_continuing_with_simulated_at_onboarding_relabels_the_library(
    workspace: Path,
) -> None:
    app = make_app(make_engine(workspace, provider=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OnboardingModal), "the onboarding")
        library = app.main.query_one("#library-list", OptionList)
        assert "anthropic · claude-sonnet-4.5" in agent_lines(library)["agent:helper"]
        await pilot.press("tab", "tab", "enter")
        await wait_for(pilot, app.booted.is_set, "the app to be ready")
        assert app.engine.providers.force_provider == "simulated"
        assert "simulated · claude-sonnet-4.5" in agent_lines(library)["agent:helper"]
        assert "the agent names anthropic" in str(app.main.query_one("#details-text").render())
