"""The status line: provider and model, breaker state, rate-limit waits, retries, tokens, cost.

When narrow it leaves out, in turn, a closed breaker, the model, the count of running runs
and the cost; the provider, warnings and tokens always show.

Cost is an estimate from a small table of list prices (US dollars per million input and
output tokens). Local and simulated providers cost nothing; a model missing from the table
is counted in tokens only and the cost is marked as a lower bound with `+`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from paracle_engine import format_tokens

from ..safe import line

if TYPE_CHECKING:
    from paracle_engine import Usage


# (input, output) US dollars per million tokens.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4.1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4.5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4.5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "o3": (2.0, 8.0),
    "o4-mini": (1.1, 4.4),
}
FREE_PROVIDERS = {"simulated", "ollama", "vllm", "lmstudio", "llamacpp"}


def _price_of(model: str) -> tuple[float, float] | None:
    """The table's price for `model`, also for dated or provider ids (claude-sonnet-4-5-2025...)."""
    name = model.lower().replace("claude-sonnet-4-5", "claude-sonnet-4.5")
    name = name.replace("claude-haiku-4-5", "claude-haiku-4.5").replace(
        "claude-opus-4-1", "claude-opus-4.1"
    )
    if name in PRICES:
        return PRICES[name]
    # The longest table entry the id starts with: gpt-4o-mini-2024-07-18 -> gpt-4o-mini.
    matches = [k for k in PRICES if name.startswith(k)]
    return PRICES[max(matches, key=len)] if matches else None


def estimate_cost(usage: Mapping[tuple[str, str], Usage]) -> tuple[float, bool]:
    """Dollars for the tokens of each (provider, model), and whether every model was priced."""
    total, complete = 0.0, True
    for (provider, model), used in usage.items():
        if provider in FREE_PROVIDERS or used.total == 0:
            continue
        price = _price_of(model)
        if price is None:
            complete = False
            continue
        total += used.input_tokens * price[0] / 1e6 + used.output_tokens * price[1] / 1e6
    return total, complete


class StatusLine(Static):
    """One line under the work area; `show(...)` redraws it from the session's figures."""

    COMPONENT_CLASSES = {
        "status-provider",
        "status-model",
        "status-sep",
        "status-dim",
        "status-running",
        "status-warn",
        "status-error",
        "status-tokens",
        "status-cost",
    }
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, clock: Callable[[], float] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock or time.time
        self._last: dict[str, Any] | None = None

    def notify_style_update(self) -> None:
        # A new theme: draw the same figures in its colours.
        super().notify_style_update()
        if self._last is not None and self.is_mounted:
            self.show(**self._last)

    def show(
        self,
        *,
        provider: str,
        model: str | None,
        usage: Mapping[tuple[str, str], Usage],
        retries: int = 0,
        rate_waits: Mapping[str, tuple[float, str]] | None = None,
        breakers: Mapping[str, str] | None = None,
        running: int = 0,
        history_error: str | None = None,
        now: float | None = None,
    ) -> None:
        """Redraw from the figures of the session (a rate wait ends at clock time `until`)."""
        self._last = {
            "provider": provider,
            "model": model,
            "usage": usage,
            "retries": retries,
            "rate_waits": rate_waits,
            "breakers": breakers,
            "running": running,
            "history_error": history_error,
            "now": now,
        }
        # (separator, text, style, drop rank): when the line is too narrow, the highest rank
        # goes first; rank 0 always stays (the provider, warnings, tokens).
        items: list[tuple[str, str, str, int]] = [("", provider, "status-provider", 0)]
        if model:
            items.append((" · ", model, "status-model", 2))
        if running:
            items.append((" │ ", f"{running} running", "status-running", 3))
        open_breakers = [e for e, s in (breakers or {}).items() if s != "closed"]
        if open_breakers:
            states = ", ".join(
                f"{e} {(breakers or {})[e].replace('_', '-')}" for e in open_breakers
            )
            items.append((" │ ", f"breaker {states}", "status-warn", 0))
        else:
            items.append((" │ ", "breaker closed", "status-dim", 4))
        now = self._clock() if now is None else now
        waits = [(p, until - now) for p, (until, _) in (rate_waits or {}).items() if until > now]
        if waits:
            longest = max(left for _, left in waits)
            items.append((" │ ", f"rate limit {longest:.0f}s", "status-warn", 0))
        if retries:
            label = f"{retries} retr{'y' if retries == 1 else 'ies'}"
            items.append((" │ ", label, "status-warn", 0))
        total = sum((u.total for u in usage.values()), 0)
        cost, complete = estimate_cost(usage)
        items.append((" │ ", f"{format_tokens(total)} tok", "status-tokens", 0))
        items.append((" · ", f"${cost:.4f}{'' if complete else '+'}", "status-cost", 1))
        if history_error:
            items.append((" │ ", "history off", "status-error", 0))
        # Provider, model and breaker names come from config and workspaces: drawn inert.
        items = [(sep, line(part), cls, rank) for sep, part, cls, rank in items]
        width = self.content_size.width or 10_000
        for rank in (4, 2, 3, 1):
            if sum(len(sep) + len(part) for sep, part, _, _ in items) <= width:
                break
            items = [item for item in items if item[3] != rank]
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for sep, part, cls, _ in items:
            if sep:
                text.append(sep, self.get_component_rich_style("status-sep"))
            text.append(part, self.get_component_rich_style(cls))
        self.update(text)

    def on_resize(self) -> None:
        if self._last is not None:
            self.show(**self._last)
