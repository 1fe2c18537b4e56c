"""The runs of this session, newest first, each with its state, target, time and tokens.

Option ids are run ids. Highlighting a run makes it the selected run of the main screen
(the one the DAG and the panes show and `escape` cancels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from paracle_engine import RUN_GLYPHS, format_duration, format_tokens

from ..safe import line

if TYPE_CHECKING:
    from ..bridge import RunView

RUN_STYLES = {
    "running": "bold $text-primary",
    "completed": "$text-success",
    "failed": "bold $text-error",
    "cancelled": "$text-warning",
    "interrupted": "$text-warning",
}


class RunList(OptionList):
    """Runs of the session; `update_run` adds or redraws one row in place."""

    DEFAULT_CSS = """
    RunList { height: auto; max-height: 12; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def update_run(self, run: RunView, *, now: float) -> None:
        """Add `run` at the top, or redraw its row; `now` is wall time for the running ones."""
        prompt = self._prompt(run, now)
        try:
            self.get_option(run.run_id)
        except Exception:
            keep = self.highlighted_run
            # Newest first; the list holds one session's runs, so rebuilding it is cheap.
            self.set_options([Option(prompt, id=run.run_id), *self.options])
            if keep is not None:
                self.select_run(keep)
            return
        self.replace_option_prompt(run.run_id, prompt)

    def select_run(self, run_id: str) -> None:
        """Highlight the run (without moving the focus)."""
        try:
            self.highlighted = self.get_option_index(run_id)
        except Exception:
            pass

    @property
    def highlighted_run(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id

    def _prompt(self, run: RunView, now: float) -> Content:
        state = run.status if run.status in RUN_GLYPHS else "cancelled"
        end = run.ended_at if run.ended_at is not None else now
        detail = f"  {format_duration(end - run.started_at)}"
        tokens = run.usage.total
        if tokens:
            detail += f" · {format_tokens(tokens)} tok"
        return Content.assemble(
            (f"{RUN_GLYPHS[state]} ", RUN_STYLES.get(state, "$text-warning")),
            line(run.target),
            (detail, "$foreground-muted"),
        )
