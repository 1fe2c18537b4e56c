"""Paracle's engine: workspaces, providers, resilience, workflows and history, with no UI.

The public API a front uses, and the only one: `from paracle_engine import Engine, ...`.
Names are imported when first asked for (PEP 562), so `import paracle_engine` stays cheap
and a CLI command loads only the parts it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it.
_SOURCES: dict[str, str] = {
    "AgentTask": "paracle_engine.engine",
    "Engine": "paracle_engine.engine",
    "new_run_id": "paracle_engine.engine",
    "open_engine": "paracle_engine.engine",
    "run_agent_sync": "paracle_engine.engine",
    "ParacleError": "paracle_engine.errors",
    "BadInputError": "paracle_engine.errors",
    "WorkspaceError": "paracle_engine.errors",
    "ValidationError": "paracle_engine.errors",
    "MissingKeyError": "paracle_engine.errors",
    "ProviderError": "paracle_engine.errors",
    "AuthenticationError": "paracle_engine.errors",
    "RateLimitError": "paracle_engine.errors",
    "OperationTimeoutError": "paracle_engine.errors",
    "CircuitOpenError": "paracle_engine.errors",
    "HistoryError": "paracle_engine.errors",
    "Event": "paracle_engine.events",
    "StepEvent": "paracle_engine.events",
    "RunStarted": "paracle_engine.events",
    "RunCompleted": "paracle_engine.events",
    "RunFailed": "paracle_engine.events",
    "RunCancelled": "paracle_engine.events",
    "StepPending": "paracle_engine.events",
    "StepStarted": "paracle_engine.events",
    "TextDelta": "paracle_engine.events",
    "UsageReported": "paracle_engine.events",
    "StepRetrying": "paracle_engine.events",
    "StepAwaitingApproval": "paracle_engine.events",
    "StepApprovalDecided": "paracle_engine.events",
    "StepCompleted": "paracle_engine.events",
    "StepFailed": "paracle_engine.events",
    "StepSkipped": "paracle_engine.events",
    "StepCancelled": "paracle_engine.events",
    "RetryScheduled": "paracle_engine.events",
    "RateLimitWaiting": "paracle_engine.events",
    "CircuitStateChanged": "paracle_engine.events",
    "HistoryStatus": "paracle_engine.events",
    "Subscription": "paracle_engine.events",
    "EventBus": "paracle_engine.events",
    "AgentSpec": "paracle_engine.models",
    "InputSpec": "paracle_engine.models",
    "StepConfig": "paracle_engine.models",
    "StepSpec": "paracle_engine.models",
    "WorkflowSpec": "paracle_engine.models",
    "Usage": "paracle_engine.models",
    "RunStatus": "paracle_engine.models",
    "StepStatus": "paracle_engine.models",
    "AgentRunResult": "paracle_engine.models",
    "StepResult": "paracle_engine.models",
    "WorkflowResult": "paracle_engine.models",
    "Settings": "paracle_engine.config",
    "load_settings": "paracle_engine.config",
    "save_theme": "paracle_engine.config",
    "config_file": "paracle_engine.paths",
    "data_dir": "paracle_engine.paths",
    "history_db": "paracle_engine.paths",
    "KeyInfo": "paracle_engine.secrets",
    "KeyStore": "paracle_engine.secrets",
    "provider_for_key": "paracle_engine.secrets",
    "scrub_keys": "paracle_engine.secrets",
    "has_controls": "paracle_engine.terminal",
    "terminal_safe": "paracle_engine.terminal",
    "terminal_safe_line": "paracle_engine.terminal",
    "to_text": "paracle_engine.templates",
    "PROVIDERS": "paracle_engine.providers.catalog",
    "ProviderInfo": "paracle_engine.providers.catalog",
    "WorkflowEntry": "paracle_engine.workspace.loader",
    "Workspace": "paracle_engine.workspace.loader",
    "find_workspace": "paracle_engine.workspace.loader",
    "load_workspace": "paracle_engine.workspace.loader",
    "write_demo": "paracle_engine.workspace.loader",
    "Decision": "paracle_engine.workflow",
    "ValidationReport": "paracle_engine.workflow",
    "resolve_inputs": "paracle_engine.workflow",
    "topological_order": "paracle_engine.workflow",
    "validate_workflow": "paracle_engine.workflow",
    "History": "paracle_engine.history",
    "open_history": "paracle_engine.history",
    "HistoryCheck": "paracle_engine.history.check",
    "check_history": "paracle_engine.history.check",
}

__all__ = [
    "__version__",
    "AgentTask",
    "Engine",
    "new_run_id",
    "open_engine",
    "run_agent_sync",
    "ParacleError",
    "BadInputError",
    "WorkspaceError",
    "ValidationError",
    "MissingKeyError",
    "ProviderError",
    "AuthenticationError",
    "RateLimitError",
    "OperationTimeoutError",
    "CircuitOpenError",
    "HistoryError",
    "Event",
    "StepEvent",
    "RunStarted",
    "RunCompleted",
    "RunFailed",
    "RunCancelled",
    "StepPending",
    "StepStarted",
    "TextDelta",
    "UsageReported",
    "StepRetrying",
    "StepAwaitingApproval",
    "StepApprovalDecided",
    "StepCompleted",
    "StepFailed",
    "StepSkipped",
    "StepCancelled",
    "RetryScheduled",
    "RateLimitWaiting",
    "CircuitStateChanged",
    "HistoryStatus",
    "Subscription",
    "EventBus",
    "AgentSpec",
    "InputSpec",
    "StepConfig",
    "StepSpec",
    "WorkflowSpec",
    "Usage",
    "RunStatus",
    "StepStatus",
    "AgentRunResult",
    "StepResult",
    "WorkflowResult",
    "Settings",
    "load_settings",
    "save_theme",
    "config_file",
    "data_dir",
    "history_db",
    "KeyInfo",
    "KeyStore",
    "provider_for_key",
    "scrub_keys",
    "has_controls",
    "terminal_safe",
    "terminal_safe_line",
    "to_text",
    "PROVIDERS",
    "ProviderInfo",
    "WorkflowEntry",
    "Workspace",
    "find_workspace",
    "load_workspace",
    "write_demo",
    "Decision",
    "ValidationReport",
    "resolve_inputs",
    "topological_order",
    "validate_workflow",
    "History",
    "open_history",
    "HistoryCheck",
    "check_history",
]

if TYPE_CHECKING:
    from paracle_engine.config import (
        Settings,
        load_settings,
        save_theme,
    )
    from paracle_engine.engine import (
        AgentTask,
        Engine,
        new_run_id,
        open_engine,
        run_agent_sync,
    )
    from paracle_engine.errors import (
        AuthenticationError,
        BadInputError,
        CircuitOpenError,
        HistoryError,
        MissingKeyError,
        OperationTimeoutError,
        ParacleError,
        ProviderError,
        RateLimitError,
        ValidationError,
        WorkspaceError,
    )
    from paracle_engine.events import (
        CircuitStateChanged,
        Event,
        EventBus,
        HistoryStatus,
        RateLimitWaiting,
        RetryScheduled,
        RunCancelled,
        RunCompleted,
        RunFailed,
        RunStarted,
        StepApprovalDecided,
        StepAwaitingApproval,
        StepCancelled,
        StepCompleted,
        StepEvent,
        StepFailed,
        StepPending,
        StepRetrying,
        StepSkipped,
        StepStarted,
        Subscription,
        TextDelta,
        UsageReported,
    )
    from paracle_engine.history import (
        History,
        open_history,
    )
    from paracle_engine.history.check import (
        HistoryCheck,
        check_history,
    )
    from paracle_engine.models import (
        AgentRunResult,
        AgentSpec,
        InputSpec,
        RunStatus,
        StepConfig,
        StepResult,
        StepSpec,
        StepStatus,
        Usage,
        WorkflowResult,
        WorkflowSpec,
    )
    from paracle_engine.paths import (
        config_file,
        data_dir,
        history_db,
    )
    from paracle_engine.providers.catalog import (
        PROVIDERS,
        ProviderInfo,
    )
    from paracle_engine.secrets import (
        KeyInfo,
        KeyStore,
        provider_for_key,
        scrub_keys,
    )
    from paracle_engine.templates import (
        to_text,
    )
    from paracle_engine.terminal import (
        has_controls,
        terminal_safe,
        terminal_safe_line,
    )
    from paracle_engine.workflow import (
        Decision,
        ValidationReport,
        resolve_inputs,
        topological_order,
        validate_workflow,
    )
    from paracle_engine.workspace.loader import (
        WorkflowEntry,
        Workspace,
        find_workspace,
        load_workspace,
        write_demo,
    )


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})
