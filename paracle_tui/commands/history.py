"""`paracle history`: list, show, search, export and delete recorded runs."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

_STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
_STATUS_STYLES = {
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "skipped": "dim",
    "pending": "dim",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    p = sub.add_parser("history", parents=[global_parent()], help="browse recorded runs")
    actions = p.add_subparsers(dest="history_command", metavar="ACTION", required=True)

    ls = actions.add_parser("list", parents=[global_parent()], help="the latest runs, newest first")
    ls.add_argument("--limit", "-n", type=int, default=20, metavar="N", help="show N runs (20)")
    ls.add_argument("--offset", type=int, default=0, metavar="N", help="skip the N newest runs")
    ls.add_argument("--status", choices=_STATUSES, help="only runs with this status")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=list_runs)

    show = actions.add_parser(
        "show", parents=[global_parent()], help="one run: steps, messages, usage"
    )
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    show.add_argument("--json", action="store_true", help="print JSON (with events)")
    show.set_defaults(handler=show_run)

    find = actions.add_parser(
        "search", parents=[global_parent()], help="find runs by words of their text"
    )
    find.add_argument(
        "query", metavar="QUERY", nargs="+", help="words that must all appear; word* for a prefix"
    )
    find.add_argument(
        "--limit", "-n", type=int, default=20, metavar="N", help="at most N runs (20)"
    )
    find.add_argument("--json", action="store_true", help="print JSON")
    find.set_defaults(handler=search_runs)

    export = actions.add_parser(
        "export", parents=[global_parent()], help="write a run as Markdown or JSON"
    )
    export.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    export.add_argument(
        "--format", "-f", choices=("md", "json"), default="md", help="md (default) or json"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(handler=export_run)

    delete = actions.add_parser(
        "delete", parents=[global_parent()], help="delete a run and its messages"
    )
    delete.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    delete.set_defaults(handler=delete_run)


# --------------------------------------------------------------------------- handlers


async def _open(*, write: bool = False) -> Any:
    """The history without a writer; runs a dead process left `running` are marked first.

    Unless the command writes, a history that cannot be written (read-only, disk full) is
    opened for reading only, with a note saying so.
    """
    from paracle_engine import HistoryError, open_history

    history = await open_history(read_only_ok=not write)
    if history.store.read_only:
        print(f"note: {history.store.read_only}; reading it as it is", file=sys.stderr)
        return history
    try:
        await history.mark_interrupted()
    except HistoryError:
        pass  # another process holds the write lock: show the runs as they are
    return history


async def list_runs(args: argparse.Namespace) -> int:
    history = await _open()
    try:
        runs = await history.runs.list_runs(
            limit=args.limit, offset=args.offset, status=args.status
        )
        total = await history.runs.count_runs(args.status)
    finally:
        await history.aclose()
    if args.json:
        _print_json([r.to_dict() for r in runs])
        return 0
    if not runs:
        print(
            "no runs recorded yet" if not args.status else f"no {args.status} runs", file=sys.stderr
        )
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("RUN", "STATUS", "KIND", "TARGET", "STARTED", "TIME", "TOKENS"):
        table.add_column(column, justify="right" if column in ("TIME", "TOKENS") else "left")
    for r in runs:
        table.add_row(
            _cell(r.id),
            _status(r.status),
            _cell(r.kind),
            _cell(r.target),
            _when(r.started_at),
            _duration(r.duration),
            f"{r.usage.total:,}" if r.usage.total else "-",
        )
    console = _console()
    console.print(table)
    shown = args.offset + len(runs)
    if shown < total:
        console.print(f"{shown} of {total} runs; --offset {shown} for more", style="dim")
    return 0


async def show_run(args: argparse.Namespace) -> int:
    history = await _open()
    try:
        detail = await history.runs.get_run(args.run_id)
    finally:
        await history.aclose()
    if args.json:
        _print_json(detail.to_dict())
        return 0
    from rich.rule import Rule
    from rich.text import Text

    from paracle_engine import terminal_safe

    run = detail.run
    console = _console()
    head = Text.assemble(
        (_line(f"{run.kind} run "), "bold"), (_line(run.id), "bold"), "  ", _status(run.status)
    )
    console.print(head)
    console.print(_cell(f"target   {run.target}"))
    console.print(f"started  {_when(run.started_at)}   time {_duration(run.duration)}")
    console.print(f"tokens   {run.usage.input_tokens:,} in, {run.usage.output_tokens:,} out")
    if run.resume_count:
        console.print(f"resumed  {run.resume_count} time(s)")
    if detail.source:
        console.print(_cell(f"source   {detail.source}"))
    if detail.inputs:
        import json

        console.print(_cell(f"inputs   {json.dumps(detail.inputs, ensure_ascii=False)}"))
    if run.error:
        console.print(_cell(f"error    {run.error}", style="red"))
    for step in detail.steps:
        who = " ".join(
            x for x in (step.agent, "/".join(x for x in (step.provider, step.model) if x)) if x
        )
        title = Text.assemble(
            (_line(step.step_id), "bold"),
            "  ",
            _status(step.status),
            _line(f"  {who}") if who else "",
            f"  attempts {step.attempts}" if step.attempts > 1 else "",
            f"  tokens {step.usage.input_tokens:,} in / {step.usage.output_tokens:,} out",
        )
        console.print(Rule(style="dim"))
        console.print(title)
        if step.error:
            console.print(_cell(f"error: {step.error}", style="red"))
        if step.reason:
            console.print(_cell(f"skipped: {step.reason}", style="dim"))
        calls = list(step.tool_calls)
        for message in step.messages:
            if message.role == "assistant":
                # The calls of this attempt come before its answer, as they happened.
                while calls and calls[0].attempt <= message.attempt:
                    _print_tool_call(console, calls.pop(0))
            label = (
                message.role
                if message.attempt <= 1
                else f"{message.role} (attempt {message.attempt})"
            )
            console.print(
                _cell(f"[{label}]", style="bold dim" if message.role == "system" else "bold")
            )
            console.print(Text(terminal_safe(message.content or "(empty)")))
        for call in calls:
            _print_tool_call(console, call)
        if step.outputs:
            import json

            console.print(
                _cell(f"outputs: {json.dumps(step.outputs, ensure_ascii=False)}", style="dim")
            )
    if detail.usage_calls:
        console.print(Rule(style="dim"))
        console.print(Text("usage per call", style="bold"))
        for call in detail.usage_calls:
            model = "/".join(x for x in (call.provider, call.model) if x)
            console.print(
                _cell(
                    f"  {call.step_id}  {model}  {call.usage.input_tokens:,} in / "
                    f"{call.usage.output_tokens:,} out"
                )
            )
    return 0


async def search_runs(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    history = await _open()
    try:
        hits = await history.runs.search(query, limit=args.limit)
    finally:
        await history.aclose()
    if args.json:
        _print_json([h.to_dict() for h in hits])
        return 0
    if not hits:
        print(f"no run matches {query!r}", file=sys.stderr)
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    id_width = max(len(h.run_id) for h in hits)
    table.add_column("RUN", no_wrap=True, min_width=id_width)
    for column in ("STATUS", "TARGET", "STEP"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("MATCH", overflow="fold", ratio=1)
    for h in hits:
        table.add_row(
            _cell(h.run_id),
            _status(h.status),
            _cell(h.target),
            _cell(f"{h.step_id} ({h.role})"),
            _snippet(h.snippet),
        )
    _console().print(table)
    return 0


async def export_run(args: argparse.Namespace) -> int:
    history = await _open()
    try:
        text = await history.runs.export(args.run_id, args.format)
    finally:
        await history.aclose()
    if args.output:
        import asyncio
        from pathlib import Path

        try:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        except OSError as exc:
            from paracle_engine import BadInputError

            raise BadInputError(
                f"cannot write {args.output}: {exc.strerror}", hint="choose another file"
            ) from exc
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def delete_run(args: argparse.Namespace) -> int:
    history = await _open(write=True)
    try:
        run_id = await history.runs.delete(args.run_id)
    finally:
        await history.aclose()
    print(f"deleted {run_id}")
    return 0


# --------------------------------------------------------------------------- output helpers

# Lines of a tool result `history show` prints; the export and --json carry all of it.
_RESULT_LINES = 20
_TOOL_STYLES = {"ok": "green", "error": "red", "denied": "yellow", "interrupted": "magenta"}


def _print_tool_call(console: Any, call: Any) -> None:
    """One tool call as a compact line (name, key argument, decision, status, duration), then
    its result indented and cut at `_RESULT_LINES` lines; all of it shown inert."""
    from rich.text import Text

    from paracle_engine import terminal_safe

    decision = call.decision or "-"
    if call.decision and call.rule:
        decision += f" ({_shorten(_line(call.rule), 40)})"
    tail = Text.assemble(
        "  ",
        _cell(decision, style="dim"),
        "  ",
        _cell(call.status, style=_TOOL_STYLES.get(call.status, "")),
        f"  {_duration(call.duration)}",
    )
    line = Text.assemble("  tool ", (_line(call.name), "bold"))
    if call.summary:
        # The key argument gets what the line has left, so the line stays one line.
        room = max(12, console.width - len(line) - len(tail) - 2)
        line.append("  " + _shorten(_line(call.summary), room))
    line.append_text(tail)
    console.print(line)
    if not call.result:
        return
    lines = call.result.splitlines()
    shown = "\n".join(lines[:_RESULT_LINES])
    more = len(lines) - _RESULT_LINES
    notes = [f"… {more} more line{'s' if more != 1 else ''}"] if more > 0 else []
    if call.truncated:
        notes.append("cut when recorded")
    if notes:
        shown += "\n" + "; ".join(notes)
    # Wrapped to the width left of the indent, so a long line's rest stays indented too.
    for piece in Text(terminal_safe(shown), style="dim").wrap(console, max(20, console.width - 4)):
        console.print(Text("    ").append_text(piece))


def _console() -> Any:
    """A Rich console on the stream under the CLI's sanitiser, so its colours act: every
    outside string printed through it is cleaned first (`_cell`, `_line`, `terminal_safe`)."""
    from rich.console import Console

    from ..terminal_io import unsanitised

    return Console(file=unsanitised(sys.stdout), highlight=False, soft_wrap=False)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _line(text: str) -> str:
    """Outside text (a run's target, an error, a model's name) for one line of a terminal."""
    from paracle_engine import terminal_safe_line

    return terminal_safe_line(text)


def _cell(text: str, style: str = "") -> Any:
    """A one-line Rich Text of outside text, its control characters shown inert."""
    from rich.text import Text

    return Text(_line(text), style=style)


def _print_json(data: object) -> None:
    from ._engine import print_json

    print_json(data)


def _status(status: str) -> Any:
    return _cell(status, style=_STATUS_STYLES.get(status, ""))


def _snippet(snippet: str) -> Any:
    """The search snippet with its «matches» in bold."""
    from rich.text import Text

    text = Text()
    rest = snippet
    while "«" in rest and "»" in rest.split("«", 1)[1]:
        before, rest = rest.split("«", 1)
        match, rest = rest.split("»", 1)
        text.append(_line(before))
        text.append(_line(match), style="bold yellow")
    text.append(_line(rest))
    return text


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    if time.time() - ts < 20 * 3600:
        return time.strftime("%H:%M:%S", time.localtime(ts))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _duration(seconds: float | None) -> str:
    from paracle_engine import format_duration

    return format_duration(seconds) or "-"
