"""Workflows: validation against a workspace and the ready-queue scheduler that runs them.

The public face of workflow_validate (checks), workflow_inputs (inputs) and workflow_run
(the scheduler); templates and prompts live in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping

from .models import AgentSpec, WorkflowSpec
from .workflow_inputs import resolve_inputs
from .workflow_run import (
    Approver,
    Decision,
    StepCaller,
    WorkflowRunner,
    max_attempts,
    needs_approval,
)
from .workflow_validate import (
    Graph,
    ValidationReport,
    dependency_graph,
    find_cycles,
    validate_workflow,
)


def ensure_valid(spec: WorkflowSpec, agents: Mapping[str, AgentSpec]) -> ValidationReport:
    """Validate `spec`; raise ValidationError with every error, else return the report."""
    report = validate_workflow(spec, agents)
    report.raise_for_errors()
    return report


__all__ = [
    "Approver",
    "Decision",
    "Graph",
    "StepCaller",
    "ValidationReport",
    "WorkflowRunner",
    "dependency_graph",
    "ensure_valid",
    "find_cycles",
    "max_attempts",
    "needs_approval",
    "resolve_inputs",
    "validate_workflow",
]
