"""ResponseHeader: the one line over a step's answer (step, status, badge, agent, model)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from paracle_engine import STEP_GLYPHS, terminal_safe_line


class ResponseHeader(Widget):
    """One line: step id, status, a `simulated` badge, then agent and provider/model.

    When the line does not fit, the least telling parts go first, whole: the model, then the
    agent, then the badge; only then is the status's note cut short. Step and status stay.
    """

    COMPONENT_CLASSES = {
        "response-header--step",
        "response-header--source",
        "response-header--simulated",
        "response-header--status",  # coloured by the header's status class, e.g. `-failed`
    }
    DEFAULT_CSS = """
    ResponseHeader {
        height: 1;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        # step, agent, provider/model, simulated, status, note
        self._parts: tuple[str, str, str, bool, str, str] = ("", "", "", False, "pending", "")

    def show(
        self, step: str, agent: str, model: str, simulated: bool, status: str, note: str
    ) -> None:
        """Draw the header (again); `model` is "provider/model" as far as known."""
        step, agent, model, note = (terminal_safe_line(p) for p in (step, agent, model, note))
        self._parts = (step, agent, model, simulated, status, note)
        status_class = f"-{status.replace('_', '-')}"
        if not self.has_class(status_class):
            for other in STEP_GLYPHS:
                self.remove_class(f"-{other.replace('_', '-')}")
            self.add_class(status_class)
        self.refresh()

    @property
    def plain(self) -> str:
        """The header as drawn at its present width (every part before it is laid out)."""
        return "".join(text for text, _ in self._pieces(self.content_size.width or 10_000))

    def _pieces(self, width: int) -> list[tuple[str, str]]:
        """(text, component name) pieces that fit `width`, dropping the least telling first."""
        step, agent, model, simulated, status, note = self._parts
        words = f"{STEP_GLYPHS[status]} {status.replace('_', ' ')}"
        if note:
            words += f" · {note}"
        pieces: list[tuple[str, str]] = []
        for keep_model, keep_agent, keep_badge in ((1, 1, 1), (0, 1, 1), (0, 0, 1), (0, 0, 0)):
            pieces = [(step, "step"), (f"  {words}", "status")]
            if simulated and keep_badge:
                pieces += [("  ", ""), (" simulated ", "simulated")]
            source = " · ".join(
                part for part, keep in ((agent, keep_agent), (model, keep_model)) if part and keep
            )
            if source:
                pieces.append((f"  {source}", "source"))
            if sum(cell_len(text) for text, _ in pieces) <= width:
                break
        return pieces  # the last try may still be too wide: its note is cut with an ellipsis

    def render(self) -> Text:
        base = self.rich_style

        def style(name: str) -> Style:
            full = self.get_component_rich_style(f"response-header--{name}")
            # Keep a background only where the rule sets one of its own (the badge).
            keep = full.bgcolor if full.bgcolor != base.bgcolor else None
            return Style(color=full.color, bgcolor=keep) + full.without_color

        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for piece, name in self._pieces(self.content_size.width):
            text.append(piece, style(name) if name else None)
        return text
