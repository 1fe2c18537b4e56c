"""`paracle keys set|status|delete` and `paracle doctor`: API keys and a health check."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paracle_engine import KeyInfo


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli import global_parent

    keys = sub.add_parser(
        "keys",
        parents=[global_parent()],
        help="store, show and remove API keys (OS keyring)",
        description="API keys come from the provider's environment variable first, "
        "then from the OS keyring (service `paracle`).",
    )
    keys.set_defaults(handler=keys_status, json=False)
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION")

    p = actions.add_parser(
        "set",
        parents=[global_parent()],
        help="store a provider's key in the OS keyring",
        description="Reads the key from a hidden prompt, or one line from stdin when piped.",
    )
    p.add_argument("provider", help="the provider, e.g. anthropic")
    p.set_defaults(handler=keys_set)

    p = actions.add_parser(
        "status", parents=[global_parent()], help="where each provider's key comes from"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=keys_status)

    p = actions.add_parser(
        "delete", parents=[global_parent()], help="remove a provider's key from the OS keyring"
    )
    p.add_argument("provider", help="the provider, e.g. anthropic")
    p.set_defaults(handler=keys_delete)

    p = sub.add_parser(
        "doctor",
        parents=[global_parent()],
        help="check the keyring, data files, workspace and keys",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=doctor)


# ---------------------------------------------------------------------- keys


async def keys_set(args: argparse.Namespace) -> int:
    from paracle_engine import KeyStore, provider_for_key

    info = provider_for_key(args.provider)
    store = KeyStore()
    # Before the prompt: nobody should type a key that cannot be stored.
    backend = await store.ensure_usable(info.name)
    key = _read_key(f"{info.name} API key (input hidden): ")
    stored = await store.set(info.name, key)
    print(f"stored the {info.name} key {stored.masked} in the OS keyring ({backend})")
    if (await store.lookup(info.name)).source == "env":
        print(f"note: {info.key_env} is set and takes precedence over the keyring", file=sys.stderr)
    return 0


async def keys_status(args: argparse.Namespace) -> int:
    from paracle_engine import KeyStore

    keys = await KeyStore().status()
    if args.json:
        from ._engine import print_json

        print_json([_key_json(k) for k in keys])
        return 0
    print(_key_table(keys))
    # The same keyring failure stands behind every provider's error: say it once.
    error = next((k.error for k in keys if k.error), None)
    if error:
        from paracle_engine import terminal_safe_line

        print(terminal_safe_line(f"warning: {error}"), file=sys.stderr)
    return 0


async def keys_delete(args: argparse.Namespace) -> int:
    from paracle_engine import KeyStore, provider_for_key

    info = provider_for_key(args.provider)
    store = KeyStore()
    await store.delete(info.name)
    print(f"deleted the {info.name} key from the OS keyring")
    if (await store.lookup(info.name)).source == "env":
        print(f"note: {info.key_env} is still set and still used", file=sys.stderr)
    return 0


def _read_key(prompt: str) -> str:
    """A hidden prompt on a terminal; otherwise one line from stdin (never the whole stream)."""
    try:
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(prompt)
        return sys.stdin.readline()
    except EOFError:
        return ""


def _key_json(k: KeyInfo) -> dict[str, Any]:
    from paracle_engine import PROVIDERS

    return {
        "provider": k.provider,
        "source": k.source,
        "masked": k.masked,
        "env_var": k.env_var,
        "required": PROVIDERS[k.provider].needs_key,
        "error": k.error,
    }


def _key_table(keys: list[KeyInfo], indent: str = "") -> str:
    from paracle_engine import PROVIDERS

    rows = [("provider", "source", "key", "variable")]
    for k in keys:
        shown = k.masked or ("not set" if PROVIDERS[k.provider].needs_key else "-")
        rows.append((k.provider, k.source, shown, k.env_var or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        indent
        + "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True))
        + "  "
        + r[3]
        for r in rows
    )


# ---------------------------------------------------------------------- doctor


async def doctor(args: argparse.Namespace) -> int:
    import platform

    from paracle_engine import KeyStore, config_file, data_dir, history_db

    from .. import __version__

    store = KeyStore()
    # The backend first: if the keyring hangs, the key lookups after it fail at once.
    backend = await store.backend_info()
    keys = await store.status()
    history = history_db()
    from paracle_engine import check_history

    history_json = _path_json(history)
    history_json["check"] = (await check_history(history)).to_dict()
    report: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "keyring": {"backend": backend.name, "ok": backend.ok, "error": backend.error},
        "data_dir": _path_json(data_dir()),
        "config_file": _path_json(config_file()),
        "history_db": history_json,
        "workspace": _workspace_json(args),
        "keys": [_key_json(k) for k in keys],
    }
    if args.json:
        from ._engine import print_json

        print_json(report)
        return 0
    print(_doctor_text(report, keys))
    return 0


def _path_json(path: Any) -> dict[str, Any]:
    exists = path.exists()
    size = path.stat().st_size if exists and path.is_file() else None
    return {"path": str(path), "exists": exists, "size": size}


def _workspace_json(args: argparse.Namespace) -> dict[str, Any]:
    from pathlib import Path

    from paracle_engine import find_workspace, load_workspace, one_line

    given = getattr(args, "workspace", None)
    root = Path(given) if given else find_workspace()
    if root is None:
        return {"path": None, "found": False, "note": "none found: the bundled demo opens"}
    try:
        ws = load_workspace(root)
    except Exception as exc:  # a broken workspace is a finding, not a crash of the doctor
        return {"path": str(root), "found": False, "note": one_line(exc, kind=False)}
    note = f"{len(ws.agents)} agents, {len(ws.workflows)} workflows"
    if ws.warnings:
        note += f", {len(ws.warnings)} warnings"
    return {"path": str(ws.root), "found": True, "note": note}


def _doctor_text(report: dict[str, Any], keys: list[KeyInfo]) -> str:
    kr = report["keyring"]
    lines = [f"paracle {report['version']} (Python {report['python']})"]
    state = "works" if kr["ok"] else f"does not work: {kr['error']}"
    lines.append(f"keyring     {kr['backend']}  {state}")
    for label, key in (
        ("data dir", "data_dir"),
        ("config", "config_file"),
        ("history db", "history_db"),
    ):
        lines.append(f"{label:<11} {report[key]['path']}  ({_describe(report[key])})")
    ws = report["workspace"]
    lines.append(
        f"workspace   {ws['path'] or '-'}" + (f"  ({ws['note']})" if ws.get("note") else "")
    )
    # Paths, the workspace's note and the keyring's error are outside text: one line each.
    from paracle_engine import terminal_safe_line

    lines = [terminal_safe_line(line) for line in lines]
    lines.append("keys")
    lines.append(_key_table(keys, indent="  "))
    return "\n".join(lines)


def _describe(entry: dict[str, Any]) -> str:
    check = entry.get("check")
    if check and check["state"] != "missing":
        found = f"{_size(entry)}; {check['detail']}"
        return f"{found}; {check['writable']}" if check.get("writable") else found
    return _size(entry)


def _size(entry: dict[str, Any]) -> str:
    if not entry["exists"]:
        return "not created yet"
    size = entry["size"]
    if size is None:
        return "exists"
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return "exists"
