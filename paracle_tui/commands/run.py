"""`paracle run` and `paracle stream`: one agent, one task, from a script or a terminal."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    for name, handler, help_text in (
        ("run", run, "run an agent on a task and print its answer"),
        ("stream", stream, "run an agent and write its answer as it arrives"),
    ):
        p = sub.add_parser(name, parents=[global_parent()], help=help_text)
        p.add_argument("agent", help="the agent id (see `paracle agents`)")
        p.add_argument("--task", "-t", required=True, help="what to ask; - reads it from stdin")
        p.add_argument("--model", "-m", help="use this model instead of the agent's")
        p.add_argument(
            "--timeout", type=float, metavar="S", help="give up after S seconds in total"
        )
        if name == "run":
            p.add_argument("--json", action="store_true", help="print one JSON object")
            p.add_argument("--tui", action="store_true", help="open the app and run it there")
        p.set_defaults(handler=handler)


def _task(args: argparse.Namespace) -> str:
    if args.task == "-":
        return sys.stdin.read()
    return args.task


def _note_simulated(provider: str) -> None:
    if provider == "simulated":
        print("note: simulated provider (offline, deterministic answers)", file=sys.stderr)


async def run(args: argparse.Namespace) -> int:
    if getattr(args, "tui", False):
        from ..app import run_app_async

        return await run_app_async(args, start=("agent", args.agent, _task(args)))
    from ._engine import open_engine, print_json, report_unsaved, report_workspace_warnings

    task = _task(args)
    async with open_engine(args) as engine:
        report_workspace_warnings(engine.warnings)
        provider, _ = engine.plan(engine.agent(args.agent))
        result = await engine.execute_agent(args.agent, task, model=args.model)
    if args.json:
        print_json(
            {
                "agent": result.agent,
                "provider": result.provider,
                "model": result.model,
                "output": result.output,
                "usage": result.usage.as_dict(),
                "run_id": result.run_id,
            }
        )
    else:
        _note_simulated(provider)
        sys.stdout.write(result.output if result.output.endswith("\n") else result.output + "\n")
    report_unsaved()
    return 0


async def stream(args: argparse.Namespace) -> int:
    from ._engine import open_engine, report_unsaved, report_workspace_warnings

    task = _task(args)
    out = sys.stdout
    async with open_engine(args) as engine:
        report_workspace_warnings(engine.warnings)
        provider, _ = engine.plan(engine.agent(args.agent))
        _note_simulated(provider)
        ended_with_newline = True
        try:
            async for text in engine.stream_agent_response(args.agent, task, model=args.model):
                out.write(text)
                out.flush()
                ended_with_newline = text.endswith("\n")
        finally:
            # End the partial line so an error or the shell prompt starts on its own line.
            if not ended_with_newline:
                out.write("\n")
                out.flush()
    report_unsaved()
    return 0
