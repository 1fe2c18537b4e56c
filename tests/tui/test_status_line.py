"""The status line's cost estimate and what it shows."""

from __future__ import annotations

from textual.app import App, ComposeResult

from paracle_engine import format_tokens
from paracle_engine.models import Usage
from paracle_tui.widgets.status_line import StatusLine, estimate_cost


def test_cost_uses_each_models_price_and_local_providers_are_free() -> None:
    usage = {
        ("anthropic", "claude-sonnet-4.5"): Usage(1_000_000, 100_000),  # $3 + $1.5
        ("openai", "gpt-4o-mini-2024-07-18"): Usage(1_000_000, 0),  # $0.15, dated id
        ("simulated", "claude-sonnet-4.5"): Usage(5_000_000, 5_000_000),
        ("ollama", "llama3"): Usage(1_000, 1_000),
    }
    cost, complete = estimate_cost(usage)
    assert round(cost, 4) == 4.65 and complete


def test_an_unknown_model_makes_the_cost_a_lower_bound() -> None:
    cost, complete = estimate_cost({("openai", "some-new-model"): Usage(10, 10)})
    assert (cost, complete) == (0.0, False)


def test_token_counts_stay_short() -> None:
    assert [format_tokens(n) for n in (950, 12_345, 2_500_000)] == ["950", "12.3k", "2.50M"]


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusLine(clock=lambda: 100.0)


async def test_the_line_names_provider_breakers_waits_retries_tokens_and_cost() -> None:
    app = Host()
    async with app.run_test(size=(160, 3)) as pilot:
        line = app.query_one(StatusLine)
        line.show(
            provider="anthropic",
            model="claude-sonnet-4.5",
            usage={("anthropic", "claude-sonnet-4.5"): Usage(2000, 1000)},
            retries=2,
            rate_waits={"anthropic": (112.4, "tokens")},
            breakers={"anthropic": "half_open"},
            running=1,
        )
        await pilot.pause()
        text = str(line.render())
        for part in (
            "anthropic · claude-sonnet-4.5",
            "1 running",
            "breaker anthropic half-open",
            "rate limit 12s",
            "2 retries",
            "3.0k tok",
            "$0.0210",
        ):
            assert part in text


async def test_a_narrow_line_leaves_out_the_least_telling_parts_and_keeps_warnings() -> None:
    app = Host()
    async with app.run_test(size=(160, 3)) as pilot:
        line = app.query_one(StatusLine)
        figures = dict(
            provider="anthropic",
            model="claude-sonnet-4.5",
            usage={("anthropic", "claude-sonnet-4.5"): Usage(2000, 1000)},
            running=1,
            history_error="disk full",
        )
        line.show(**figures)
        await pilot.pause()
        full = "anthropic · claude-sonnet-4.5 │ 1 running │ breaker closed │ 3.0k tok · $0.0210"
        assert str(line.render()) == full + " │ history off"
        shown = {}
        for width in (90, 70, 52, 36):
            await pilot.resize_terminal(width, 3)
            await pilot.pause()
            shown[width] = str(line.render())
            assert "history off" in shown[width] and "3.0k tok" in shown[width]
        assert "breaker" not in shown[90] and "claude-sonnet-4.5" in shown[90]
        assert "claude" not in shown[70] and "1 running" in shown[70]
        assert "running" not in shown[52] and "$0.0210" in shown[52]
        assert shown[36] == "anthropic │ 3.0k tok │ history off"
