"""The engine's exceptions. Fronts turn each into one clear line for a person."""

from __future__ import annotations


class ParacleError(Exception):
    """Base of every error the engine raises on purpose.

    ``hint`` says what the person can do about it; fronts print ``str(err)`` and the hint.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and its hint on a single line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return text


def one_line(exc: BaseException, *, hint: bool = True, kind: bool = True) -> str:
    """`exc` as one line for a person, the one way the engine and the fronts say an error.

    A ParacleError gives its message, then its hint unless `hint` is False. Anything else gives
    its type and its text ("ValueError: bad value"), or just its text when `kind` is False;
    an exception with no text gives its type's name either way. Whitespace runs, newlines
    included, become one space.
    """
    if isinstance(exc, ParacleError):
        return exc.one_line() if hint else " ".join(exc.message.split())
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if kind else text


class BadInputError(ParacleError):
    """Input from the person is wrong: unknown agent, bad argument, missing key. Exit 2."""

    exit_code = 2


class WorkspaceError(BadInputError):
    """A `.parac/` file cannot be read or makes no sense. Carries file and line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(f"{where}{message}", hint=hint)
        self.cause = message


class ValidationError(BadInputError):
    """One or more problems found while validating a workflow; all of them, not the first."""

    def __init__(self, issues: list[WorkspaceError], *, warnings: list[str] | None = None) -> None:
        self.issues = issues
        self.warnings = warnings or []
        first = issues[0].one_line() if issues else "invalid"
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{first}{more}")


class MissingKeyError(BadInputError):
    """No API key is configured for a provider that needs one."""


class ProviderError(ParacleError):
    """A provider call failed. Carries what the retry policy needs to decide."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        after_output: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        # scheme://host:port of the endpoint that failed, when one was called.
        self.endpoint = endpoint
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after
        self.should_retry = should_retry
        # True when text had already reached a consumer before the failure.
        self.after_output = after_output


class AuthenticationError(ProviderError):
    """The provider refused the API key (401/403). Never retried."""


class RateLimitError(ProviderError):
    """The provider answered 429 or asked the client to slow down."""


class OperationTimeoutError(ParacleError):
    """A timeout fired. ``kind`` is connect, first_token, idle, total or step."""

    def __init__(self, kind: str, seconds: float, *, what: str = "") -> None:
        self.kind = kind
        self.seconds = seconds
        label = {
            "connect": "connecting",
            "first_token": "waiting for the first token",
            "idle": "waiting for the next token",
            "total": "in total",
            "step": "for the step",
            "workflow": "for the workflow",
        }.get(kind, kind)
        subject = f"{what} " if what else ""
        super().__init__(
            f"{subject}timed out after {seconds:g} s {label}",
            hint="raise the timeout with --timeout or in config.toml",
        )


class CircuitOpenError(ParacleError):
    """The circuit breaker of a provider endpoint is open: calls fail at once."""

    def __init__(self, endpoint: str, retry_in: float) -> None:
        self.endpoint = endpoint
        self.retry_in = retry_in
        super().__init__(
            f"{endpoint} failed repeatedly; calls are paused and will be tried again in {retry_in:.1f} s"
        )


class HistoryError(ParacleError):
    """The history database cannot be read or written.

    ``fault`` names the cause when it is known (a `history.faults.Fault`: full, read-only,
    permission denied, locked, corrupt, I/O error), ``reason`` says it without the file's name.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        fault: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.fault = fault
        self.reason = reason
