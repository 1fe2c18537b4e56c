#!/usr/bin/env bash
# Run a command with a throwaway, unlocked Secret Service: gnome-keyring in a private D-Bus
# session, its keyring files in a temporary folder. Tests can then store API keys for real
# without touching the person's own keyring. PARACLE_TEST_KEYRING=1 tells them it is one.
#
#   scripts/with-keyring.sh .venv/bin/python -m pytest -q
#
# Without dbus-run-session or gnome-keyring-daemon, the command runs as it is (the keyring
# tests then skip, or fail under CI=true).
set -u

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if [ "${1:-}" != "--inside-session" ]; then
  if [ -n "${PARACLE_TEST_KEYRING:-}" ]; then
    exec "$@"  # already inside a throwaway keyring session
  fi
  if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
    echo "with-keyring: dbus-run-session or gnome-keyring-daemon not found; running without a Secret Service" >&2
    exec "$@"
  fi
  exec dbus-run-session -- bash "$0" --inside-session "$@"
fi
shift

bus_call() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    "org.freedesktop.DBus.$1" string:org.freedesktop.secrets 2>/dev/null
}

state=$(mktemp -d "${TMPDIR:-/tmp}/paracle-keyring.XXXXXX")
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null
    # The daemon writes its files until it is gone: wait for it (at most 5 s) before removing them.
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -m 700 "$state/run" "$state/data"

# --unlock creates the login keyring (the default collection) with this password and unlocks it.
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf %s "$password" | XDG_RUNTIME_DIR="$state/run" XDG_DATA_HOME="$state/data" \
  gnome-keyring-daemon --daemonize --unlock --components=secrets >/dev/null
unset password

# The daemon claims its bus name shortly after it returns: poll for it, 10 s at most.
for _ in $(seq 200); do
  bus_call NameHasOwner | grep -q 'boolean true' && break
  sleep 0.05
done
daemon_pid=$(bus_call GetConnectionUnixProcessID | awk '/uint32/ {print $2}')
if [ -z "$daemon_pid" ]; then
  echo "with-keyring: gnome-keyring-daemon did not start; running without a Secret Service" >&2
  "$@"
  exit $?
fi

export PARACLE_TEST_KEYRING=1
"$@"
exit $?
