"""`paracle agents`: the workspace's agents with inheritance applied."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    p = sub.add_parser("agents", parents=[global_parent()], help="list the workspace's agents")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=agents)


def agents(args: argparse.Namespace) -> int:
    from pathlib import Path

    from paracle_engine import load_workspace

    ws = load_workspace(Path(args.workspace) if args.workspace else None)
    forced = args.provider
    if args.json:
        from ._engine import print_json

        print_json(
            [
                {
                    "id": a.id,
                    "name": a.name,
                    "description": a.description,
                    "provider": forced or a.provider,
                    "model": a.model,
                    "temperature": a.temperature,
                    "max_tokens": a.max_tokens,
                    "parent": a.parent,
                    "lineage": a.lineage,
                    "tools": a.tools,
                    "skills": a.skills,
                    "origin": a.origin,
                    "system_prompt": a.system_prompt,
                    "metadata": a.metadata,
                }
                for a in ws.agents.values()
            ]
        )
        return 0
    import sys

    from paracle_engine import terminal_safe_line as line

    # Ids, names, file names and warnings come from the workspace (a cloned repository, say):
    # one line each, control characters inert.
    where = "bundled demo workspace" if ws.is_demo else str(ws.root)
    print(line(f"{len(ws.agents)} agents in {where}"), file=sys.stderr)
    width = max((len(line(a.id)) for a in ws.agents.values()), default=2)
    for a in ws.agents.values():
        parent = f"  (inherits {a.parent})" if a.parent else ""
        provider = forced or a.provider
        print(f"{line(a.id):<{width}}  " + line(f"{provider}/{a.model}  {a.label}{parent}"))
    for warning in ws.warnings:
        print(line(f"warning: {warning}"), file=sys.stderr)
    return 0
