"""The whole key path against a real Secret Service (gnome-keyring under D-Bus).

`make test` runs pytest through scripts/with-keyring.sh, which starts a throwaway, unlocked
gnome-keyring in a private D-Bus session. Without a Secret Service these tests skip with the
reason, except under CI=true, where they fail: CI installs one and must exercise it.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer, RecordedRequest, Response

from paracle_engine.workspace.loader import demo_workspace_path

ROOT = Path(__file__).resolve().parents[2]
PARACLE = [sys.executable, "-m", "paracle_tui.cli"]
KEY = "sk-ant-api03-" + "S" * 80 + "-e7f8"
ENV_KEY = "sk-ant-api03-" + "E" * 80 + "-0e0e"
AGENT = "researcher"  # a demo agent on the anthropic provider


def _base_env(home: Path) -> dict[str, str]:
    """This process's environment without keys, keyring choices or displays (no prompt windows)."""
    drop = ("PYTHON_KEYRING_BACKEND", "DISPLAY", "WAYLAND_DISPLAY")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and k not in drop
    }
    env["PARACLE_HOME"] = str(home)
    env["NO_COLOR"] = "1"
    return env


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires a Secret Service, but {reason}")
    pytest.skip(reason)


PROBE = (
    "import keyring\n"
    "backend = keyring.get_keyring()\n"
    "backend.get_password('paracle-test-probe', 'probe')\n"
    "print(type(backend).__module__)\n"
)


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip (or fail under CI) unless a throwaway Secret Service answers."""
    env = _base_env(tmp_path_factory.mktemp("probe"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        _unavailable("the Secret Service did not answer within 30 s")
    backend = done.stdout.strip()
    if done.returncode != 0 or backend != "keyring.backends.SecretService":
        why = (done.stderr.strip().splitlines() or [backend or "no backend"])[-1]
        _unavailable(f"no Secret Service is reachable ({why}); run the tests with `make test`")
    if os.environ.get("PARACLE_TEST_KEYRING") != "1" and os.environ.get("CI") != "true":
        pytest.skip(
            "the Secret Service found is not a throwaway one: run through scripts/with-keyring.sh "
            "(`make test`) so these tests never overwrite your own paracle keys"
        )


KEYRING_SNIPPET = (
    "import sys, keyring\n"
    "from keyring.errors import PasswordDeleteError\n"
    "action, providers = sys.argv[1], sys.argv[2:]\n"
    "for provider in providers:\n"
    "    if action == 'get':\n"
    "        print(keyring.get_password('paracle', provider) or '')\n"
    "        continue\n"
    "    try:\n"
    "        keyring.delete_password('paracle', provider)\n"
    "    except PasswordDeleteError:\n"
    "        pass\n"
)


def keyring_client(env: dict[str, str], action: str, *providers: str) -> str:
    """Read or delete entries from another process, as any keyring client would."""
    done = subprocess.run(
        [sys.executable, "-c", KEYRING_SNIPPET, action, *providers],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored(env: dict[str, str], provider: str) -> str | None:
    """The paracle entry of ``provider`` in the Secret Service, or None."""
    return keyring_client(env, "get", provider).strip() or None


def sent_key(request: RecordedRequest) -> str | None:
    """The API key a request carried: `x-api-key`, or a bearer token (newer Anthropic SDKs)."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


@pytest.fixture
def env(secret_service: None, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A clean environment and no paracle entries in the keyring, before and after."""
    env = _base_env(tmp_path / "home")
    keyring_client(env, "delete", "anthropic", "openai")
    yield env
    keyring_client(env, "delete", "anthropic", "openai")


def paracle(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARACLE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


async def paracle_async(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The CLI as a subprocess while this loop keeps serving the loopback server."""
    proc = await asyncio.create_subprocess_exec(
        *PARACLE,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def run_args(*extra: str) -> list[str]:
    return ["run", AGENT, "--task", "hi", "--workspace", str(demo_workspace_path()), *extra]


# ---------------------------------------------------------------------- storing


def test_keys_set_from_stdin_stores_the_key_in_the_secret_service(env: dict[str, str]) -> None:
    done = paracle(env, "keys", "set", "anthropic", stdin=f"{KEY}\n")

    assert done.returncode == 0, done.stderr
    assert "stored the anthropic key sk-ant-…e7f8" in done.stdout
    assert "keyring.backends.SecretService.Keyring" in done.stdout
    assert KEY not in done.stdout + done.stderr
    assert stored(env, "anthropic") == KEY
    if shutil.which("secret-tool"):  # libsecret's own client sees the same item
        found = subprocess.run(
            ["secret-tool", "lookup", "service", "paracle", "username", "anthropic"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert found.stdout == KEY

    status = json.loads(paracle(env, "keys", "status", "--json").stdout)
    assert status[0] == {
        "provider": "anthropic",
        "source": "keyring",
        "masked": "sk-ant-…e7f8",
        "env_var": "ANTHROPIC_API_KEY",
        "required": True,
        "error": None,
    }


def test_keys_set_on_a_terminal_prompts_without_echo(env: dict[str, str]) -> None:
    import fcntl
    import termios

    master, slave = os.openpty()
    proc = subprocess.Popen(
        [*PARACLE, "keys", "set", "anthropic"],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        # The pty becomes the controlling terminal, so getpass can open /dev/tty.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    try:
        screen = _read_pty_until(master, b"(input hidden): ")
        os.write(master, f"{KEY}\n".encode())
        screen += _read_pty_until(master, None)
        assert proc.wait(timeout=30) == 0, screen
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    text = screen.decode(errors="replace")
    assert "anthropic API key (input hidden): " in text
    assert KEY not in text  # typed into the terminal, never echoed back
    assert "stored the anthropic key sk-ant-…e7f8" in text
    assert stored(env, "anthropic") == KEY


def _read_pty_until(fd: int, marker: bytes | None, timeout: float = 30) -> bytes:
    """Read a pty until ``marker`` shows up (None: until the other side closes)."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker is None or marker not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            if marker is None:
                return data
            raise AssertionError(f"terminal closed before {marker!r}: {data!r}")
        data += chunk
    return data


# ---------------------------------------------------------------------- using


async def test_run_sends_the_stored_key_without_the_environment_variable(
    env: dict[str, str], fixtures_dir: Path
) -> None:
    assert paracle(env, "keys", "set", "anthropic", stdin=f"{KEY}\n").returncode == 0

    async with LoopbackServer(
        Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse")
    ) as srv:
        code, out, err = await paracle_async({**env, "ANTHROPIC_BASE_URL": srv.url}, *run_args())

    assert code == 0, err
    assert out.strip() == "Hello, world! **Streaming** works."
    assert [r.path for r in srv.requests] == ["/v1/messages"]
    assert sent_key(srv.requests[0]) == KEY


async def test_environment_variable_overrides_the_keyring(
    env: dict[str, str], fixtures_dir: Path
) -> None:
    assert paracle(env, "keys", "set", "anthropic", stdin=f"{KEY}\n").returncode == 0
    env = {**env, "ANTHROPIC_API_KEY": ENV_KEY}

    status = json.loads(paracle(env, "keys", "status", "--json").stdout)
    assert (status[0]["source"], status[0]["masked"]) == ("env", "sk-ant-…0e0e")

    async with LoopbackServer(
        Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse")
    ) as srv:
        code, _, err = await paracle_async({**env, "ANTHROPIC_BASE_URL": srv.url}, *run_args())

    assert code == 0, err
    assert sent_key(srv.requests[0]) == ENV_KEY
    assert stored(env, "anthropic") == KEY  # the stored key is left as it was


async def test_keys_delete_removes_the_key(env: dict[str, str]) -> None:
    assert paracle(env, "keys", "set", "anthropic", stdin=f"{KEY}\n").returncode == 0

    done = paracle(env, "keys", "delete", "anthropic")
    assert done.returncode == 0, done.stderr
    assert stored(env, "anthropic") is None
    assert json.loads(paracle(env, "keys", "status", "--json").stdout)[0]["source"] == "none"

    async with LoopbackServer() as srv:
        code, _, err = await paracle_async({**env, "ANTHROPIC_BASE_URL": srv.url}, *run_args())
    assert code == 2
    assert err.startswith("error: no API key for anthropic") and "paracle keys set anthropic" in err
    assert srv.requests == []

    again = paracle(env, "keys", "delete", "anthropic")
    assert again.returncode == 2
    assert again.stderr.startswith("error: no anthropic key is stored in the keyring")


# ---------------------------------------------------------------------- a locked keyring

LOCKED_SESSION = """
import json, subprocess, sys
import secretstorage
connection = secretstorage.dbus_init()
secretstorage.get_default_collection(connection).lock()
paracle = [sys.executable, "-m", "paracle_tui.cli"]
results = {}
for name, args, stdin in (
    ("set", ["keys", "set", "anthropic"], sys.argv[1] + "\\n"),
    ("status", ["keys", "status"], ""),
    ("doctor", ["doctor", "--json"], ""),
    ("run", sys.argv[2:], ""),
):
    done = subprocess.run(paracle + args, input=stdin, capture_output=True, text=True, timeout=60)
    results[name] = [done.returncode, done.stdout, done.stderr]
print(json.dumps(results))
"""


def test_locked_secret_service_says_what_to_do(secret_service: None, tmp_path: Path) -> None:
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        _unavailable("dbus-run-session or gnome-keyring-daemon is missing")
    env = _base_env(tmp_path / "home")
    env.pop("PARACLE_TEST_KEYRING", None)  # a session of its own, so locking it harms no other test
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "with-keyring.sh"),
            sys.executable,
            "-c",
            LOCKED_SESSION,
            KEY,
            *run_args(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])
    what_to_do = "(unlock the keyring, set ANTHROPIC_API_KEY instead, or choose a keyring backend with PYTHON_KEYRING_BACKEND)"

    code, _, err = results["set"]
    assert (code, err) == (2, f"error: the OS keyring is locked {what_to_do}\n")
    code, out, err = results["status"]
    assert code == 0 and out.splitlines()[1].split()[:2] == ["anthropic", "none"]
    assert err == f"warning: the OS keyring is locked {what_to_do}\n"
    code, out, _ = results["doctor"]
    assert json.loads(out)["keyring"]["ok"] is False
    code, _, err = results["run"]
    assert code == 2 and err.startswith("error: no API key for anthropic")
    for _code, out, err in results.values():
        assert "Traceback" not in err and KEY not in out + err
