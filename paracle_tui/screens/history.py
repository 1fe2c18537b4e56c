"""The history screen (`h`): recent runs a page at a time, full-text search, open a run.

Runs are read through the engine's RunRepository a page at a time (the next page loads when
the cursor reaches the last row), so a long history never loads whole. Typing in the search
field searches every message of every run; enter opens the highlighted run.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from paracle_engine import format_duration, format_tokens, run_glyph

from ..safe import line, plain

PAGE_SIZE = 50
# Wait this long after the last key press before searching, so typing stays smooth.
SEARCH_DELAY = 0.25


def _cell(value: object) -> Text:
    """A table cell of outside text: one inert line, not parsed as markup."""
    return Text(line(value), no_wrap=True, overflow="ellipsis")


def when(ts: float) -> str:
    """A start time as `2026-01-05 14:03`, in local time."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


class HistoryScreen(Screen[None]):
    """Runs newest first; `/` searches, enter opens, escape goes back (or clears the search)."""

    COMPONENT_CLASSES = {
        "history--completed",
        "history--failed",
        "history--cancelled",
        "history--interrupted",
        "history--running",
        "history--match",
    }
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("slash", "focus_search", "Search", id="search"),
        Binding("enter", "open", "Open", show=True, id="open"),
    ]

    def __init__(self, runs: Any, *, open_run: Any) -> None:
        """`runs` is the engine's RunRepository; `open_run(run_id)` shows one run."""
        super().__init__()
        self.runs = runs
        self.open_run = open_run
        self._offset = 0
        self._total = 0
        self._query = ""
        self._loading = False
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="history-body"):
            yield Static("History", classes="screen-title")
            yield Input(placeholder="Search every run's messages (/)", id="history-search")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="history-count", classes="screen-help")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load_recent()

    # ------------------------------------------------------------------ loading

    @work(exclusive=True, group="history-load")
    async def load_recent(self) -> None:
        """The first page of recent runs (the search is cleared)."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns("Started", "Status", "Kind", "Target", "Tokens", "Took", "Run")
        self._offset = 0
        self._total = await self.runs.count_runs()
        await self._next_page()

    async def _next_page(self) -> None:
        table = self.query_one(DataTable)
        self._loading = True
        try:
            page = await self.runs.list_runs(limit=PAGE_SIZE, offset=self._offset)
        finally:
            self._loading = False
        self._offset += len(page)
        for run in page:
            took = format_duration(run.duration) or "—"
            # What history holds came from outside: cells are Text (never markup), made inert.
            table.add_row(
                when(run.started_at),
                self._status(run.status),
                _cell(run.kind),
                _cell(run.target),
                format_tokens(run.usage.total),
                took,
                _cell(run.id),
                key=run.id,
            )
        self._show_count()

    def _show_count(self) -> None:
        count = self.query_one("#history-count", Static)
        if self._query:
            rows = self.query_one(DataTable).row_count
            found = f"{rows} run{'s' if rows != 1 else ''} match “{self._query}” · escape: clear"
            count.update(plain(found, one_line=True))
        elif self._total == 0:
            count.update("No runs yet: run an agent or a workflow and it shows here.")
        else:
            count.update(f"{self._offset} of {self._total} runs · enter: open · /: search")

    @on(DataTable.RowHighlighted, "#history-table")
    def _maybe_more(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        at_end = event.cursor_row >= table.row_count - 1
        if at_end and not self._query and not self._loading and self._offset < self._total:
            self._load_more()

    @work(exclusive=True, group="history-more")
    async def _load_more(self) -> None:
        await self._next_page()

    # ------------------------------------------------------------------ searching

    @on(Input.Changed, "#history-search")
    def _typed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self.search(event.value))

    @on(Input.Submitted, "#history-search")
    def _search_now(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self.search(event.value)
        self.query_one(DataTable).focus()

    @work(exclusive=True, group="history-load")
    async def search(self, query: str) -> None:
        """Show the runs whose messages match `query`; an empty query shows recent runs."""
        query = query.strip()
        if query == self._query:
            return
        self._query = query
        if not query:
            self.load_recent()
            return
        hits = await self.runs.search(query, limit=PAGE_SIZE)
        table = self.query_one(DataTable)
        # The match column takes what the others leave, so nothing scrolls sideways.
        room = max(24, table.size.width - 62)
        table.clear(columns=True)
        table.add_columns("Started", "Status", "Target", "Step", "Match")
        for hit in hits:
            table.add_row(
                when(hit.started_at),
                self._status(hit.status),
                _cell(hit.target),
                _cell(hit.step_id),
                self._snippet(hit.snippet, room),
                key=hit.run_id,
            )
        self._show_count()

    # ------------------------------------------------------------------ cells

    def _status(self, status: str) -> Text:
        style = self.get_component_rich_style(f"history--{status}", partial=True)
        return Text(f"{run_glyph(status)} {line(status)}", style=style)

    def _snippet(self, snippet: str, width: int) -> Text:
        """The search snippet with the matched words (between « and ») stressed."""
        match_style = self.get_component_rich_style("history--match", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        rest = line(snippet)
        while "«" in rest and "»" in rest:
            before, _, tail = rest.partition("«")
            match, _, rest = tail.partition("»")
            text.append(before)
            text.append(match, style=match_style)
        text.append(rest)
        text.truncate(width, overflow="ellipsis")
        return text

    # ------------------------------------------------------------------ actions

    def action_focus_search(self) -> None:
        self.query_one("#history-search", Input).focus()

    def action_back(self) -> None:
        search = self.query_one("#history-search", Input)
        if search.value:
            search.value = ""
            self.search("")
            self.query_one(DataTable).focus()
            return
        self.dismiss(None)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        if row_key.value:
            self.open_run(row_key.value)

    @on(DataTable.RowSelected, "#history-table")
    def _row_selected(self) -> None:
        self.action_open()
