"""Workflows: validation against a workspace and the ready-queue scheduler that runs them.

The public face of validate (checks), inputs (inputs), scheduler (the ready queue) and step
(one step's attempts, retries, approval and outputs);
templates and prompts live in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping

from paracle_engine.models import AgentSpec, WorkflowSpec
from paracle_engine.workflow.inputs import resolve_inputs
from paracle_engine.workflow.scheduler import WorkflowRunner
from paracle_engine.workflow.step import (
    Approver,
    Decision,
    StepCaller,
    max_attempts,
    needs_approval,
)
from paracle_engine.workflow.validate import (
    Graph,
    ValidationReport,
    dependency_graph,
    find_cycles,
    topological_order,
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
    "topological_order",
    "validate_workflow",
]
