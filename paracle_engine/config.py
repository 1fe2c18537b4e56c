"""User settings from `config.toml`: theme, default provider and model, limits and timeouts.

Every field has a default, so a missing file is fine; a broken file is a one-line error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from paracle_engine import paths
from paracle_engine.errors import BadInputError


class TimeoutSettings(BaseModel):
    """Seconds; None means no limit."""

    model_config = ConfigDict(extra="forbid")

    connect: float | None = 10.0
    first_token: float | None = 60.0
    idle: float | None = 60.0
    total: float | None = 600.0


class RetrySettings(BaseModel):
    """The `[retry]` table; the one list of retry fields (`resilience.retry.RetryConfig` adds
    the backoff to it)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    exponential_base: float = 2.0
    jitter: bool = True
    # Longest retry-after the engine will honour before giving up on a call.
    max_retry_after: float = 60.0


class CircuitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_max_calls: int = 1


class RateLimitSettings(BaseModel):
    """Per provider; None means unlimited."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


class WorkspaceSettings(BaseModel):
    """How `.parac/` files are read."""

    model_config = ConfigDict(extra="forbid")

    # A larger workspace file is skipped with a warning (1 MiB by default).
    max_file_bytes: int = Field(default=1024 * 1024, gt=0)


class ProviderSettings(BaseModel):
    """Limits on what a provider may answer."""

    model_config = ConfigDict(extra="forbid")

    # Characters of decoded text in one answer; past it the stream stops and the step fails
    # with the text so far. 8 Mi characters by default, far above any max_tokens.
    max_answer_chars: int = Field(default=8 * 1024 * 1024, gt=0)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str = "textual-dark"
    provider: str | None = None  # overrides every agent's provider when set
    model: str | None = None
    max_concurrency: int = 8
    simulated_pace: float = 0.02  # seconds between simulated chunks
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)
    rate_limits: dict[str, RateLimitSettings] = Field(default_factory=dict)
    base_urls: dict[str, str] = Field(default_factory=dict)
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)


def load_settings(path: Path | None = None) -> Settings:
    """Read `config.toml` (the user config dir's unless `path` is given)."""
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        return Settings.model_validate(data)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"{path}: not valid TOML: {exc}", hint="fix or delete the file"
        ) from exc
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise BadInputError(
            f"{path}: {where}: {err['msg']}", hint="fix or delete the file"
        ) from exc


def save_theme(theme: str, path: Path | None = None) -> None:
    """Remember the chosen theme, keeping the rest of the file as it is."""
    path = path or paths.config_file()
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    lines = [ln for ln in lines if not ln.strip().startswith("theme")]
    # `theme` is a top-level key, so it must come before any table header.
    lines.insert(0, f'theme = "{theme}"')
    paths.ensure_private_dir(path.parent)
    path.write_text("\n".join(lines) + "\n", "utf-8")
