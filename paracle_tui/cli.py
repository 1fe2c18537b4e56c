"""`paracle`: no subcommand opens the app; subcommands run headless for scripts and people.

Startup must stay fast: this module and the command modules import only the standard
library at the top; the engine, provider SDKs and Textual are imported by the command
that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Coroutine, Sequence

from . import __version__

# Each module defines register(subparsers); a handler is set with set_defaults(handler=...).
COMMAND_MODULES = ("agents", "run", "workflow", "history", "keys", "init")


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; `commands=False` leaves out the subcommands (no module loads)."""
    parser = argparse.ArgumentParser(
        prog="paracle",
        description="Run LLM agents and multi-agent workflows. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"paracle {__version__}")
    add_global_options(parser)
    if not commands:
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Options that work before or after the subcommand (`paracle --debug run ...`)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--workspace", metavar="DIR", default=default, help="the workspace folder (holding .parac/)"
    )
    parser.add_argument(
        "--provider",
        metavar="NAME",
        default=default,
        help="use this provider for every agent (e.g. simulated)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show tracebacks",
    )


def global_parent() -> argparse.ArgumentParser:
    """A parent parser giving a subcommand the global options: `parents=[global_parent()]`."""
    parent = argparse.ArgumentParser(add_help=False)
    add_global_options(parent, suppress=True)
    return parent


def opens_app(argv: Sequence[str]) -> bool:
    """Whether `argv` holds only global options, so `paracle` opens the app: then the
    subcommands' modules need not load before its first frame."""
    takes_value = False
    for token in argv:
        if takes_value:
            takes_value = False
        elif token in ("--workspace", "--provider"):
            takes_value = True
        elif token != "--debug" and not token.startswith(("--workspace=", "--provider=")):
            return False
    return not takes_value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (`sys.argv` when None)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return build_parser(commands=not opens_app(argv)).parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from .terminal_io import sanitised_stdio

    args = parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        handler = _open_app
    # Every write of a command to stdout and stderr goes through the one sanitiser: model
    # answers, server errors and workspace values reach the terminal inert.
    with sanitised_stdio():
        try:
            result = handler(args)
            if isinstance(result, Coroutine):
                import asyncio  # only commands that run something pay for the import

                result = asyncio.run(result)
            return int(result or 0)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return 0
        except Exception as exc:  # one clear line; the traceback only with --debug
            return report_error(exc, debug=args.debug)


def report_error(exc: BaseException, *, debug: bool) -> int:
    """The error on stderr as one line (the traceback first with ``debug``), with every API
    key the process knows cut out, chained exceptions included, and control characters inert:
    a server's error body is outside text, and it may echo the key it was sent."""
    from paracle_engine import ParacleError, one_line

    if debug:
        import traceback

        _print_error("".join(traceback.format_exception(exc)), one_line=False)
    if isinstance(exc, ParacleError):
        _print_error(f"error: {one_line(exc)}")
        return exc.exit_code
    _print_error(f"error: {one_line(exc)} (run again with --debug for details)")
    return 1


def _print_error(text: str, *, one_line: bool = True) -> None:
    from paracle_engine import scrub_keys, terminal_safe, terminal_safe_line

    text = scrub_keys(text)
    if one_line:
        print(terminal_safe_line(text.strip()), file=sys.stderr)
    else:
        sys.stderr.write(terminal_safe(text if text.endswith("\n") else text + "\n"))


def _open_app(args: argparse.Namespace) -> int:
    from .app import run_app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
