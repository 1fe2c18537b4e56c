"""The one place that decides where Paracle's files live."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "paracle"


def data_dir() -> Path:
    """History database and other state. `PARACLE_HOME` overrides the platform's data dir."""
    home = os.environ.get("PARACLE_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def config_dir() -> Path:
    """`config.toml` lives here. Under `PARACLE_HOME` when that is set, so tests stay contained."""
    home = os.environ.get("PARACLE_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False)


def config_file() -> Path:
    return config_dir() / "config.toml"


def history_db() -> Path:
    return data_dir() / "history.db"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) if missing and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
