"""`paracle init [DIR]`: write the demo workspace out for the user to edit."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    p = sub.add_parser("init", parents=[global_parent()], help="write a starter .parac/ workspace")
    p.add_argument("dir", nargs="?", default=".", help="where to create .parac/ (default: here)")
    p.set_defaults(handler=init)


def init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from paracle_engine import write_demo

    created = write_demo(Path(args.dir))
    print(f"created {created}; edit its agents/ and workflows/, then run `paracle` there")
    return 0
