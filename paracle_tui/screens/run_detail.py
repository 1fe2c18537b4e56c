"""One recorded run, opened from the history: its DAG as it ended and its transcript.

`e` writes the run as Markdown and `j` as JSON into the current folder; `c` copies the
transcript (OSC 52, so it works over SSH).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from paracle_engine import ParacleError, StepStatus, format_duration, format_tokens, run_glyph

from ..safe import plain, terminal_safe
from ..widgets.dag_view import DagView
from ..widgets.response_pane import ResponsePane
from .history import when

_EXPORT_TIMEOUT = 10.0
# The pane shows a step status; a run's ending maps onto one.
_STEP_STATUS = {"completed": "completed", "failed": "failed", "running": "running"}
_KNOWN_STEP_STATES = {s.value for s in StepStatus}


class RunDetailScreen(Screen[None]):
    """A recorded run; escape goes back to the history."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Back", id="back"),
        Binding("e", "export('md')", "Export .md", id="export_md"),
        Binding("j", "export('json')", "Export .json", id="export_json"),
        Binding("c", "copy", "Copy", id="copy"),
    ]

    def __init__(self, runs: Any, run_id: str, *, folder: Path | None = None) -> None:
        """`runs` is the engine's RunRepository; exports go to `folder` (the current one)."""
        super().__init__()
        self.runs = runs
        self.run_id = run_id
        self.folder = folder
        self.transcript = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="run-detail"):
            yield Static("", id="detail-title", classes="screen-title")
            yield Static("", id="detail-meta", classes="screen-help")
            yield DagView(id="detail-dag")
            yield ResponsePane("Transcript", id="detail-transcript")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, group="run-detail")
    async def load(self) -> None:
        try:
            detail = await self.runs.get_run(self.run_id)
            self.transcript = await self.runs.export(self.run_id, "md")
        except ParacleError as exc:
            self.query_one("#detail-title", Static).update("This run cannot be opened")
            self.query_one("#detail-meta", Static).update(plain(exc.one_line()))
            return
        run = detail.run
        self.run_id = run.id
        glyph = run_glyph(run.status)
        # What history holds came from outside (targets, errors): shown inert, never as markup.
        title = f"{glyph} {run.target}  ·  {run.status}"
        self.query_one("#detail-title", Static).update(plain(title, one_line=True))
        meta = [f"{run.kind} run {run.id}", f"started {when(run.started_at)}"]
        if run.duration is not None:
            meta.append(f"took {format_duration(run.duration)}")
        meta.append(format_tokens(run.usage.total, " tok"))
        if run.provider:
            meta.append(f"{run.provider} · {run.model or '?'}")
        if run.error:
            meta.append(run.error)
        self.query_one("#detail-meta", Static).update(plain("  ·  ".join(meta), one_line=True))
        dag = self.query_one("#detail-dag", DagView)
        dag.display = run.kind == "workflow" and bool(detail.step_ids)
        dag.set_graph(list(detail.step_ids), {k: list(v) for k, v in detail.edges.items()})
        for step in detail.steps:
            if step.step_id not in detail.step_ids:
                continue
            dag.update_step(
                step.step_id,
                status=step.status if step.status in _KNOWN_STEP_STATES else "pending",
                started_at=step.started_at,
                ended_at=step.ended_at,
                tokens=step.usage.total or None,
                note=step.error or step.reason,
            )
        pane = self.query_one("#detail-transcript", ResponsePane)
        pane.set_status(_STEP_STATUS.get(run.status, "cancelled"))
        pane.append(self.transcript)
        pane.body.focus()
        # The body follows the end as text arrives; a transcript is read from the top.
        await pane.body.scroll_home_when_rendered()

    @work(exclusive=True, group="run-export")
    async def action_export(self, fmt: str) -> None:
        try:
            text = await self.runs.export(self.run_id, fmt)
        except ParacleError as exc:
            self.notify(exc.one_line(), severity="error")
            return
        folder = self.folder or Path.cwd()
        path = folder / f"paracle-run-{self.run_id}.{fmt}"
        try:
            await asyncio.wait_for(
                asyncio.to_thread(path.write_text, text, "utf-8"), _EXPORT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            self.notify(f"could not write {path}: {exc}", severity="error")
            return
        self.notify(f"Wrote {path}", title="Exported")

    def action_copy(self) -> None:
        if not self.transcript:
            return
        # As the pane shows it: a paste of the transcript into a terminal does nothing either.
        self.app.copy_to_clipboard(terminal_safe(self.transcript))
        self.notify(f"Copied the transcript ({len(self.transcript):,} characters).")
