"""`paracle workflow list | validate | run | resume`: workflows from a script or a terminal.

`run` shows each step's state and elapsed time on stderr (`_progress.RunView`: redrawn in
place on a terminal, one plain line per change otherwise) and prints the workflow's outputs on stdout, or one
JSON object with --json. Exit codes: 0 completed, 1 failed, 2 invalid, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._progress import RunView, iso, tick


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    p = sub.add_parser(
        "workflow", parents=[global_parent()], help="list, validate and run workflows"
    )
    actions = p.add_subparsers(dest="workflow_command", metavar="ACTION", required=True)

    ls = actions.add_parser("list", parents=[global_parent()], help="the workspace's workflows")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(handler=list_workflows)

    check = actions.add_parser(
        "validate", parents=[global_parent()], help="check a workflow; every error at once"
    )
    check.add_argument("workflow", metavar="NAME|FILE", help="a workflow name or a .yaml file")
    check.set_defaults(handler=validate)

    run_p = actions.add_parser("run", parents=[global_parent()], help="run a workflow")
    run_p.add_argument("workflow", metavar="NAME|FILE", help="a workflow name or a .yaml file")
    run_p.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a workflow input; VALUE is parsed as JSON when it parses, else taken as text",
    )
    run_p.add_argument(
        "--max-concurrency", type=int, metavar="N", help="run at most N steps at once"
    )
    run_p.add_argument("--approve-all", action="store_true", help="approve every step that asks")
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        dest="workflow_timeout",  # the whole run's limit, not each model call's
        help="fail the run after S seconds",
    )
    run_p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    run_p.add_argument("--tui", action="store_true", help="open the app and run it there")
    run_p.set_defaults(handler=run)

    again = actions.add_parser(
        "resume", parents=[global_parent()], help="run again the steps a stopped run did not finish"
    )
    again.add_argument("run_id", metavar="RUN_ID", help="the run's id (see `paracle history`)")
    again.add_argument(
        "--max-concurrency", type=int, metavar="N", help="run at most N steps at once"
    )
    again.add_argument("--approve-all", action="store_true", help="approve every step that asks")
    again.add_argument("--json", action="store_true", help="print one JSON object")
    again.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    again.set_defaults(handler=resume)


# --------------------------------------------------------------------------- list, validate


def _workspace(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from paracle_engine import load_workspace

    return load_workspace(Path(args.workspace) if args.workspace else None)


def list_workflows(args: argparse.Namespace) -> int:
    from paracle_engine import ParacleError

    from ._engine import report_workspace_warnings

    ws = _workspace(args)
    report_workspace_warnings(ws.warnings)
    rows = []
    for entry in ws.workflows.values():
        row = {
            "name": entry.name,
            "description": entry.description,
            "file": _shown(entry.file, ws.root),
            "steps": [],
        }
        try:
            row["steps"] = [s.id for s in ws.load_workflow(entry.name).steps]
        except ParacleError as exc:
            row["error"] = exc.one_line()
        rows.append(row)
    if args.json:
        from ._engine import print_json

        print_json(rows)
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        about = " ".join((r["description"] or "").split())
        about = about if len(about) <= 70 else about[:67] + "..."
        steps = f"{len(r['steps'])} steps" if "error" not in r else "cannot load"
        print(f"{r['name']:<{width}}  {steps:<11}  {about}")
        print(f"{'':<{width}}  {r['file']}")
        if "error" in r:
            print(f"{'':<{width}}  error: {r['error']}")
    return 0


def _shown(path: Any, root: Any) -> str:
    """A workflow file relative to the workspace when it lies inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def validate(args: argparse.Namespace) -> int:
    from paracle_engine import validate_workflow

    ws = _workspace(args)
    spec = ws.load_workflow(args.workflow)
    report = validate_workflow(spec, ws.agents)
    _print_report(report, spec)
    if report.errors:
        return 2
    print(f"{spec.name}: valid, {len(spec.steps)} steps, {len(report.warnings)} warnings")
    return 0


def _print_report(report: Any, spec: Any) -> None:
    for err in report.errors:
        print(err.one_line(), file=sys.stderr)
    for warning in report.warnings:
        print(f"{spec.source.file}: warning: {warning}", file=sys.stderr)


# --------------------------------------------------------------------------- run


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; a VALUE that parses as JSON is taken as JSON, else as text."""
    from paracle_engine import BadInputError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise BadInputError(
                f"--input {pair!r} is not KEY=VALUE", hint="write --input name=value"
            )
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


async def _read_line() -> str:
    """One line from stdin without blocking the loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    done: asyncio.Future[str] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(sys.stdin.readline())

    try:
        loop.add_reader(fd, readable)
    except (NotImplementedError, OSError, ValueError):  # no reader on this platform's loop
        return await asyncio.to_thread(sys.stdin.readline)
    try:
        return await done
    finally:
        loop.remove_reader(fd)


def _approver(args: argparse.Namespace, view: RunView) -> Any:
    import asyncio

    from paracle_engine import Decision

    if args.approve_all:

        async def approve_all(step_id: str, output: str) -> Decision:
            return Decision(True, "approved with --approve-all")

        return approve_all
    if not sys.stdin.isatty():
        return None
    lock = asyncio.Lock()

    async def ask(step_id: str, output: str) -> Decision:
        async with lock:  # one question at a time
            view.clear()
            view.paused = True
            try:
                print(f"\n── {step_id} answered ──\n{output.rstrip()}\n", file=sys.stderr)
                print(f"approve step {step_id}? [y/N] ", end="", file=sys.stderr, flush=True)
                answer = (await _read_line()).strip().lower()
                if answer in ("y", "yes"):
                    return Decision(True, None)
                print("why not (optional)? ", end="", file=sys.stderr, flush=True)
                note = (await _read_line()).strip() if answer else ""
                return Decision(False, note or "rejected at the prompt")
            finally:
                view.paused = False

    return ask


async def run(args: argparse.Namespace) -> int:
    inputs = parse_inputs(args.input)
    if args.tui:
        from ..app import run_app_async

        return await run_app_async(args, start=("workflow", args.workflow, inputs))

    async def start(engine: Any, approver: Any) -> Any:
        spec = engine.workflow(args.workflow)
        if args.workflow_timeout is not None:
            spec = spec.model_copy(deep=True)
            spec.settings.timeout = args.workflow_timeout
        return await engine.run_workflow(
            spec, inputs, approver=approver, max_concurrency=args.max_concurrency
        )

    return await _follow(args, start)


async def resume(args: argparse.Namespace) -> int:
    async def start(engine: Any, approver: Any) -> Any:
        from paracle_engine import terminal_safe_line

        # Said before the run's progress starts: a step cut short runs again from its start.
        state = await engine.runs.load_resume_state(args.run_id)
        for note in state.notes.values():
            print(f"note: {terminal_safe_line(note)}", file=sys.stderr)
        return await engine.resume_workflow(
            args.run_id, approver=approver, max_concurrency=args.max_concurrency
        )

    return await _follow(args, start)


async def _follow(args: argparse.Namespace, start: Any) -> int:
    """Run `start(engine, approver)` with progress on stderr, then print what it produced."""
    import asyncio

    from paracle_engine import ValidationError

    from ._engine import open_engine, print_json, report_unsaved

    view = RunView(live=sys.stderr.isatty(), quiet=args.quiet)
    async with open_engine(args) as engine:
        unsubscribe = engine.bus.subscribe(view.on_event)
        ticker = asyncio.get_running_loop().create_task(tick(view)) if view.live else None
        try:
            result = await start(engine, _approver(args, view))
        except ValidationError as exc:
            view.clear()
            for err in exc.issues:
                print(err.one_line(), file=sys.stderr)
            return 2
        except asyncio.CancelledError:
            view.redraw()
            if args.json:
                print_json(view.as_json("cancelled", {}))
            raise
        finally:
            unsubscribe()
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
        view.redraw()
    if args.json:
        print_json(_result_json(result))
    else:
        _print_outputs(result)
    if not args.quiet:
        from paracle_engine import format_duration, terminal_safe_line

        took = max((r.ended_at or 0 for r in result.steps.values()), default=0) - view.started
        summary = f"{result.status}: {len(result.steps)} steps in {format_duration(took)}, run {result.run_id}"
        error = f" ({terminal_safe_line(result.error)})" if result.error else ""
        print(summary + error, file=sys.stderr)
    report_unsaved()
    return 0 if str(result.status) == "completed" else 1


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": str(result.status),
        "outputs": result.outputs,
        "steps": {
            sid: {
                "status": str(res.status),
                "started_at": iso(res.started_at),
                "ended_at": iso(res.ended_at),
                "attempts": res.attempts,
                "output": res.output,
                "outputs": res.outputs,
                "error": res.error,
                "reason": res.reason,
                "usage": res.usage.as_dict(),
            }
            for sid, res in result.steps.items()
        },
        "error": result.error,
        "usage": result.usage.as_dict(),
    }


def _print_outputs(result: Any) -> None:
    from paracle_engine import to_text

    if result.outputs:
        for name, value in result.outputs.items():
            text = to_text(value)
            if "\n" in text:
                print(f"{name}:\n" + "\n".join(f"  {line}" for line in text.splitlines()))
            else:
                print(f"{name}: {text}")
        return
    last = [r for r in result.steps.values() if str(r.status) == "completed"]
    if last:
        print(last[-1].output)
