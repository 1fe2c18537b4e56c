"""The rules of the house that a test can check."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_never_imports_the_ui():
    offenders = []
    for path in (ROOT / "paracle_engine").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"textual", "paracle_tui"}:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_every_package_is_listed_for_the_wheel():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"paracle_tui.styles"}
    for top in ("paracle_engine", "paracle_tui"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    assert found == listed


def test_importing_the_engine_pulls_in_no_sdk_and_no_textual():
    code = (
        "import sys, paracle_engine.engine, paracle_engine.workspace.loader;"
        "print(','.join(m for m in ('textual', 'anthropic', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_code_is_lint_clean():
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run(
        [str(ruff), "check", "paracle_engine", "paracle_tui", "tests", "bench", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]


def test_the_code_is_ruff_format_clean():
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run(
        [
            str(ruff),
            "format",
            "--check",
            "paracle_engine",
            "paracle_tui",
            "tests",
            "bench",
            "scripts",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, f"run `make format`:\n{out.stdout[-3000:]}"


def test_the_engine_and_the_app_type_check_clean():
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "paracle_engine", "paracle_tui"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]


def test_importing_the_public_api_is_cheap():
    code = (
        "import sys, paracle_engine;"
        "print(','.join(m for m in ('textual', 'anthropic', 'httpx', 'pydantic', 'aiosqlite')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_is_exported_and_seen_by_the_type_checker():
    import paracle_engine

    public = [n for n in paracle_engine.__all__ if n != "__version__"]
    assert sorted(public) == sorted(paracle_engine._SOURCES)
    for name in public:
        value = getattr(paracle_engine, name)
        assert getattr(sys.modules[paracle_engine._SOURCES[name]], name) is value
    tree = ast.parse((ROOT / "paracle_engine" / "__init__.py").read_text("utf-8"))
    checked = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert checked == paracle_engine._SOURCES


def test_the_import_contracts_are_kept():
    """The contracts in pyproject.toml ([tool.importlinter]): the engine never imports the UI,
    the fronts import only its public API, widgets touch neither providers nor SQLite."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]


def _module_of(path: Path) -> tuple[str, str]:
    """The dotted name of the module at `path` and the package it belongs to."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rpartition(".")[0]


def test_no_module_imports_another_packages_private_names():
    packages = {
        _module_of(init)[0]
        for top in ("paracle_engine", "paracle_tui")
        for init in (ROOT / top).rglob("__init__.py")
    }
    offenders = []
    for top in ("paracle_engine", "paracle_tui"):
        for path in (ROOT / top).rglob("*.py"):
            _, package = _module_of(path)
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                owner = source if source in packages else source.rpartition(".")[0]
                if owner == package:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        offenders.append(f"{where}: from {source} import {alias.name}")
    assert offenders == []


def test_the_fronts_ask_the_engine_not_its_parts():
    """`engine.plan(...)`, not `engine.executor.plan(...)`: the Engine's parts are its own."""
    parts = {"workspace", "executor", "providers", "policy", "history"}
    offenders = []
    for path in (ROOT / "paracle_tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr in parts):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "engine":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
