"""`paracle keys` and `paracle doctor` as a person uses them, against keyring backends.

In-process through ``cli.main`` with an in-memory backend (keyring's own backend API); the
no-keyring cases also as real subprocesses, to see exactly what a person would see.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.errors import KeyringLocked
from support.keyrings import MemoryKeyring

from paracle_engine.providers.catalog import PROVIDERS
from paracle_engine.secrets import SERVICE, key_providers
from paracle_engine.workspace.loader import demo_workspace_path
from paracle_tui.cli import main

KEY = "sk-ant-api03-" + "K" * 80 + "-c3d4"
OPENAI_KEY = "sk-proj-" + "O" * 40 + "e5f6"
PARACLE = [sys.executable, "-m", "paracle_tui.cli"]


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str, *password: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for info in PROVIDERS.values():
        if info.key_env:
            monkeypatch.delenv(info.key_env, raising=False)
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


@pytest.fixture
def backend() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


@pytest.fixture
def locked() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    yield
    keyring.set_keyring(previous)


def paracle(
    monkeypatch: pytest.MonkeyPatch, capsys, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    """Run the CLI in this process with ``stdin`` piped in (not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- keys set


def test_set_reads_one_line_from_stdin(backend: MemoryKeyring, monkeypatch, capsys) -> None:
    code, out, err = paracle(
        monkeypatch, capsys, "keys", "set", "anthropic", stdin=f"{KEY}\nnext line\n"
    )

    assert code == 0, err
    assert backend.entries == {(SERVICE, "anthropic"): KEY}
    assert "sk-ant-…c3d4" in out and "MemoryKeyring" in out
    assert KEY not in out + err
    assert sys.stdin.read() == "next line\n"  # one line taken, the rest left alone


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_set_refuses_empty_input(backend: MemoryKeyring, monkeypatch, capsys, stdin: str) -> None:
    code, _, err = paracle(monkeypatch, capsys, "keys", "set", "anthropic", stdin=stdin)

    assert code == 2
    assert (
        err.strip()
        == "error: no key given for anthropic (paste the key; empty input stores nothing)"
    )
    assert backend.entries == {}


def test_set_warns_when_the_environment_variable_wins(
    backend: MemoryKeyring, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-something-else-000000000000")
    code, _, err = paracle(monkeypatch, capsys, "keys", "set", "openai", stdin=OPENAI_KEY)

    assert code == 0
    assert backend.entries[(SERVICE, "openai")] == OPENAI_KEY
    assert "OPENAI_API_KEY is set and takes precedence" in err


@pytest.mark.parametrize("action", ["set", "delete"])
def test_unknown_provider_exits_2_listing_the_known_ones(
    backend: MemoryKeyring, monkeypatch, capsys, action: str
) -> None:
    code, out, err = paracle(monkeypatch, capsys, "keys", action, "antropic", stdin=f"{KEY}\n")

    assert code == 2 and out == ""
    known = ", ".join(p.name for p in key_providers())
    assert err.strip() == f"error: unknown provider 'antropic' (known providers: {known})"
    assert sys.stdin.read() == f"{KEY}\n"  # refused before reading any key
    assert backend.entries == {}


# ---------------------------------------------------------------------- keys status / delete


def test_status_shows_every_provider_with_source_and_masked_key(
    backend: MemoryKeyring, monkeypatch, capsys
) -> None:
    backend.entries[(SERVICE, "anthropic")] = KEY
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)

    code, out, err = paracle(monkeypatch, capsys, "keys", "status")

    assert code == 0 and err == ""
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert list(rows) == [p.name for p in key_providers()]
    assert rows["anthropic"] == ["keyring", "sk-ant-…c3d4", "ANTHROPIC_API_KEY"]
    assert rows["openai"] == ["env", "sk-proj…e5f6", "OPENAI_API_KEY"]
    assert rows["ollama"] == ["none", "-", "OLLAMA_API_KEY"]
    assert KEY not in out and OPENAI_KEY not in out

    # `paracle keys` alone shows the same table.
    assert paracle(monkeypatch, capsys, "keys")[1] == out


def test_status_json(backend: MemoryKeyring, monkeypatch, capsys) -> None:
    backend.entries[(SERVICE, "anthropic")] = KEY

    code, out, _ = paracle(monkeypatch, capsys, "keys", "status", "--json")

    assert code == 0
    entries = {e["provider"]: e for e in json.loads(out)}
    assert entries["anthropic"] == {
        "provider": "anthropic",
        "source": "keyring",
        "masked": "sk-ant-…c3d4",
        "env_var": "ANTHROPIC_API_KEY",
        "required": True,
        "error": None,
    }
    assert entries["openai"]["source"] == "none"
    assert KEY not in out


def test_delete_removes_the_key_and_says_when_there_is_none(
    backend: MemoryKeyring, monkeypatch, capsys
) -> None:
    backend.entries[(SERVICE, "anthropic")] = KEY

    code, out, _ = paracle(monkeypatch, capsys, "keys", "delete", "anthropic")
    assert code == 0 and "deleted the anthropic key" in out
    assert backend.entries == {}

    code, _, err = paracle(monkeypatch, capsys, "keys", "delete", "anthropic")
    assert code == 2
    assert err.startswith("error: no anthropic key is stored in the keyring")


# ---------------------------------------------------------------------- doctor


def test_doctor_reports_keyring_files_workspace_and_keys(
    backend: MemoryKeyring, home: Path, monkeypatch, capsys
) -> None:
    backend.entries[(SERVICE, "anthropic")] = KEY
    home.mkdir()
    (home / "history.db").write_bytes(b"x" * 3000)

    code, out, err = paracle(
        monkeypatch, capsys, "doctor", "--workspace", str(demo_workspace_path())
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == f"keyring     {MemoryKeyring.__module__}.MemoryKeyring  works"
    assert lines[2] == f"data dir    {home}  (exists)"
    assert lines[3] == f"config      {home / 'config.toml'}  (not created yet)"
    # 3000 bytes of "x" are no SQLite file: doctor says so, and what to do.
    assert lines[4].startswith(f"history db  {home / 'history.db'}  (2.9 KB")
    assert "corrupt" in lines[4] or "not a Paracle history" in lines[4], lines[4]
    assert lines[5].startswith(f"workspace   {demo_workspace_path()}  (") and "agents" in lines[5]
    assert "sk-ant-…c3d4" in out and KEY not in out

    code, out, _ = paracle(monkeypatch, capsys, "doctor", "--json")
    report = json.loads(out)
    assert report["keyring"] == {
        "backend": f"{MemoryKeyring.__module__}.MemoryKeyring",
        "ok": True,
        "error": None,
    }
    db = report["history_db"]
    assert {k: db[k] for k in ("path", "exists", "size")} == {
        "path": str(home / "history.db"),
        "exists": True,
        "size": 3000,
    }
    assert "corrupt" in db["check"]["detail"]
    assert report["workspace"]["found"] is False  # the cwd holds no .parac/
    assert {k["provider"]: k["source"] for k in report["keys"]}["anthropic"] == "keyring"
    assert KEY not in out


# ---------------------------------------------------------------------- no usable keyring


def test_locked_keyring_every_command_says_what_to_do(locked, monkeypatch, capsys) -> None:
    what_to_do = "unlock the keyring, set ANTHROPIC_API_KEY instead, or choose a keyring backend with PYTHON_KEYRING_BACKEND"

    code, _, err = paracle(monkeypatch, capsys, "keys", "set", "anthropic", stdin=f"{KEY}\n")
    assert (code, err) == (2, f"error: the OS keyring is locked ({what_to_do})\n")
    assert sys.stdin.read() == f"{KEY}\n"  # nobody is asked for a key that cannot be stored

    code, _, err = paracle(monkeypatch, capsys, "keys", "delete", "anthropic")
    assert (code, err) == (2, f"error: the OS keyring is locked ({what_to_do})\n")

    code, out, err = paracle(monkeypatch, capsys, "keys", "status")
    assert code == 0 and "anthropic          none" in out
    assert err == f"warning: the OS keyring is locked ({what_to_do})\n"

    code, out, err = paracle(monkeypatch, capsys, "doctor")
    assert code == 0, err
    assert "LockedKeyring  does not work: the OS keyring is locked (unlock the keyring" in out


def _subprocess_env(home: Path, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(PARACLE_HOME=str(home), PYTHON_KEYRING_BACKEND=backend)
    return env


@pytest.mark.parametrize(
    "backend_name", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_no_keyring_in_a_real_process_never_shows_a_traceback(
    home: Path, backend_name: str
) -> None:
    env = _subprocess_env(home, backend_name)
    for args, expected_code in (
        (["keys", "set", "anthropic"], 2),
        (["keys", "delete", "anthropic"], 2),
        (["keys", "status"], 0),
        (["keys", "status", "--json"], 0),
        (["doctor"], 0),
    ):
        done = subprocess.run(
            [*PARACLE, *args], env=env, input=f"{KEY}\n", capture_output=True, text=True, timeout=60
        )
        assert done.returncode == expected_code, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "no OS keyring is available" in done.stdout + done.stderr
        assert "PYTHON_KEYRING_BACKEND" in done.stdout + done.stderr
        assert KEY not in done.stdout + done.stderr


def test_building_the_parser_does_not_import_keyring(home: Path) -> None:
    code = (
        "import sys; from paracle_tui.cli import build_parser; build_parser();"
        "print('keyring' in sys.modules, 'paracle_engine.secrets' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_subprocess_env(home, ""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["False", "False"], done.stderr
