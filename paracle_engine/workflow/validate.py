"""Checking a workflow against its workspace before anything runs.

Every problem is reported, not just the first, each with file, line, cause and a fix.
Everything here is iterative: a 10,000-step chain listed in any order validates.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from paracle_engine.errors import ValidationError, WorkspaceError
from paracle_engine.models import AgentSpec, StepSpec, WorkflowSpec
from paracle_engine.templates import (
    Ref,
    TemplateError,
    condition_references,
    references,
    strings_in,
)

N = TypeVar("N", bound=Hashable)

KNOWN_INPUT_TYPES = {
    "string",
    "str",
    "integer",
    "int",
    "number",
    "float",
    "boolean",
    "bool",
    "array",
    "list",
    "object",
    "dict",
    "any",
}


@dataclass(slots=True)
class ValidationReport:
    """All errors (each a WorkspaceError with file and line) and the warnings of a workflow."""

    errors: list[WorkspaceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The dependency graph the checks built, so a run need not build it again.
    graph: Graph | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise one ValidationError carrying every error, if there is any."""
        if self.errors:
            raise ValidationError(self.errors, warnings=self.warnings)


@dataclass(slots=True)
class Graph:
    """The steps' dependencies, deduplicated, and a topological order of the acyclic part."""

    deps: dict[str, tuple[str, ...]]
    dependants: dict[str, list[str]]
    order: list[str]
    # Steps left out of `order` because they sit on or behind a cycle.
    cyclic: set[str]


def topological_order(nodes: Iterable[N], deps: Mapping[N, Iterable[N]]) -> list[N]:
    """`nodes` ordered so that each comes after its dependencies, by Kahn's algorithm.

    Breadth first, ties in input order. `deps` maps a node to its dependencies; those not
    among `nodes` are ignored. Nodes on or behind a cycle are left out of the result.
    """
    nodes = list(dict.fromkeys(nodes))
    known = set(nodes)
    dependants: dict[N, list[N]] = {n: [] for n in nodes}
    waiting: dict[N, int] = {}
    for n in nodes:
        ds = [d for d in dict.fromkeys(deps.get(n, ())) if d in known]
        waiting[n] = len(ds)
        for d in ds:
            dependants[d].append(n)
    queue = deque(n for n in nodes if waiting[n] == 0)
    order: list[N] = []
    while queue:
        n = queue.popleft()
        order.append(n)
        for m in dependants[n]:
            waiting[m] -= 1
            if waiting[m] == 0:
                queue.append(m)
    return order


def dependency_graph(spec: WorkflowSpec) -> Graph:
    """Build the dependency graph (unknown dependencies dropped) and order it topologically."""
    ids = {s.id for s in spec.steps}
    deps: dict[str, tuple[str, ...]] = {}
    for s in spec.steps:
        if s.id not in deps:
            deps[s.id] = tuple(dict.fromkeys(d for d in s.depends_on if d in ids))
    dependants: dict[str, list[str]] = {sid: [] for sid in deps}
    for sid, ds in deps.items():
        for d in ds:
            dependants[d].append(sid)
    order = topological_order(deps, deps)
    cyclic = set(deps) - set(order)
    return Graph(deps, dependants, order, cyclic)


def find_cycles(graph: Graph) -> list[list[str]]:
    """Each distinct cycle among the steps Kahn's algorithm could not order, as a path."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph.cyclic):
        if start in done:
            continue
        path: list[str] = []
        seen_at: dict[str, int] = {}
        node = start
        # Every unordered step has an unordered dependency, so this walk must meet itself.
        while node not in seen_at and node not in done:
            seen_at[node] = len(path)
            path.append(node)
            node = next(d for d in graph.deps[node] if d in graph.cyclic)
        if node in seen_at:
            cycles.append(path[seen_at[node] :] + [node])
        done.update(path)
    return cycles


# "Did you mean" compares a name with every step id; after this many distinct names the hint
# only lists the steps, so many bad references cost time linear in the size of the file.
_MAX_SUGGESTIONS = 50
# Lists of known names in hints are cut to this many, so each message has a bounded length.
_MAX_LISTED = 20


class _Checker:
    def __init__(self, spec: WorkflowSpec, agents: Mapping[str, AgentSpec]) -> None:
        self.spec = spec
        self.agents = agents
        self.file = spec.source.file
        self.report = ValidationReport()
        self.steps: dict[str, StepSpec] = {}
        self.graph = Graph({}, {}, [], set())
        self._ancestors: dict[str, int] | None = None
        self._bit: dict[str, int] = {}
        # Hints computed once per name or step, however many references repeat them.
        self._step_hints: dict[str, str] = {}
        self._outputs_shown: dict[str, str] = {}
        self._inputs_shown: str | None = None
        self._steps_shown: str | None = None

    def error(self, message: str, line: int | None, hint: str, column: int | None = None) -> None:
        self.report.errors.append(
            WorkspaceError(message, file=self.file, line=line, column=column, hint=hint)
        )

    def line(self, step: StepSpec, *fields: str) -> int | None:
        for name in fields:
            if name in step.field_lines:
                return step.field_lines[name]
        return step.source.line or self.spec.source.line

    def run(self) -> ValidationReport:
        spec = self.spec
        if not spec.steps:
            self.error(
                f"workflow '{spec.name}' has no steps",
                spec.source.line,
                "add a steps: list with at least one step",
            )
        self.check_ids()
        self.check_agents()
        graph = dependency_graph(spec)
        self.check_dependencies(graph)
        self.graph = self.report.graph = graph
        self.check_inputs()
        for step in spec.steps:
            self.check_step_templates(step)
        self.check_workflow_outputs()
        self.check_settings()
        self.report.warnings.extend(spec.warnings)
        return self.report

    def check_ids(self) -> None:
        for step in self.spec.steps:
            if step.id in self.steps:
                first = self.line(self.steps[step.id], "id", "name")
                self.error(
                    f"duplicate step id '{step.id}' (first defined at line {first})",
                    self.line(step, "id", "name"),
                    "give each step a unique id",
                )
            else:
                self.steps[step.id] = step

    def check_agents(self) -> None:
        known = _listing(sorted(self.agents))
        for step in self.spec.steps:
            if not step.agent:
                self.error(
                    f"step '{step.id}' names no agent",
                    self.line(step, "id", "name"),
                    f"add agent: ID; known agents: {known}",
                )
            elif step.agent not in self.agents:
                self.error(
                    f"step '{step.id}' uses unknown agent '{step.agent}'",
                    self.line(step, "agent"),
                    f"use one of the known agents: {known}, or add '{step.agent}' "
                    "to agents/manifest.yaml",
                )

    def check_dependencies(self, graph: Graph) -> None:
        for step in self.spec.steps:
            for dep in step.depends_on:
                if dep not in self.steps:
                    self.error(
                        f"step '{step.id}' depends on unknown step '{dep}'",
                        self.line(step, "depends_on"),
                        self.step_hint(dep),
                    )
        for cycle in find_cycles(graph):
            first = self.steps[cycle[0]]
            self.error(
                "steps depend on each other in a cycle: " + " -> ".join(cycle),
                self.line(first, "depends_on"),
                f"each step depends on the next; remove one of these dependencies, e.g. "
                f"'{cycle[1]}' from depends_on of '{cycle[0]}'",
            )

    def spec_line(self, key: str) -> int | None:
        lines: dict[str, Any] = (self.spec.model_extra or {}).get("field_lines") or {}
        return lines.get(key) or self.spec.source.line

    def check_inputs(self) -> None:
        for name, spec in self.spec.inputs.items():
            if spec.type not in KNOWN_INPUT_TYPES:
                self.report.warnings.append(
                    f"input '{name}' has type '{spec.type}', which is not checked"
                )
            if spec.enum is not None and spec.has_default and spec.default not in spec.enum:
                self.error(
                    f"input '{name}' defaults to {spec.default!r}, which is not one of {spec.enum}",
                    self.spec_line(f"inputs.{name}"),
                    "make the default one of the enum values",
                )

    # ---------------------------------------------------------------- templates

    def ancestors(self) -> dict[str, int]:
        """Each step's ancestors as a bitset, built in topological order."""
        if self._ancestors is None:
            self._bit = {sid: i for i, sid in enumerate(self.graph.deps)}
            anc: dict[str, int] = {}
            for sid in self.graph.order:
                bits = 0
                for d in self.graph.deps[sid]:
                    bits |= anc[d] | (1 << self._bit[d])
                anc[sid] = bits
            self._ancestors = anc
        return self._ancestors

    def is_ancestor(self, ref_step: str, of: str) -> bool:
        anc = self.ancestors().get(of)
        if anc is None:  # on a cycle: already reported
            return True
        return bool(anc >> self._bit[ref_step] & 1)

    def template_fields(self, step: StepSpec) -> Iterable[tuple[str, str, int | None]]:
        if step.prompt:
            yield "prompt", step.prompt, self.line(step, "prompt")
        for path, text in strings_in(step.inputs):
            key = path.split(".", 1)[0]
            yield f"inputs.{path}", text, self.line(step, f"inputs.{key}", "inputs")

    def check_step_templates(self, step: StepSpec) -> None:
        for where, text, line in self.template_fields(step):
            if "{{" not in text:
                continue
            self.check_text(
                references,
                text,
                (step, where, line),
                f"step '{step.id}': bad template in {where}",
                "fix the {{ }} expression",
            )
        if step.condition:
            self.check_text(
                condition_references,
                step.condition,
                (step, "condition", self.line(step, "condition")),
                f"step '{step.id}': bad condition {step.condition!r}",
                "write comparisons joined by and, or, not",
            )

    def check_text(
        self,
        parse: Callable[[str], list[Ref]],
        text: str,
        at: tuple[StepSpec | None, str, int | None],
        bad: str,
        hint: str,
    ) -> None:
        """Parse `text` and check the references it makes from `at` (step, where, line); a
        parse error is reported as "`bad`: why", with the parser's hint or else `hint`."""
        step, where, line = at
        try:
            refs = parse(text)
        except TemplateError as exc:
            self.error(f"{bad}: {exc.message}", line, exc.hint or hint)
            return
        self.check_refs(refs, step, where, line)

    def check_refs(
        self, refs: list[Ref], step: StepSpec | None, where: str, line: int | None
    ) -> None:
        owner = f"step '{step.id}'" if step else "workflow outputs"
        for ref in refs:
            if ref.kind == "steps":
                continue
            if ref.kind == "input":
                if ref.name not in self.spec.inputs:
                    if self._inputs_shown is None:
                        self._inputs_shown = _listing(self.spec.inputs)
                    declared = self._inputs_shown
                    self.error(
                        f"{owner}: {where} uses unknown input '{ref.name}'",
                        line,
                        f"declare it under `inputs:` of the workflow; declared inputs: {declared}",
                    )
                continue
            target = self.steps.get(ref.step or "")
            if target is None:
                self.error(
                    f"{owner}: {where} refers to unknown step '{ref.step}'",
                    line,
                    self.step_hint(ref.step or ""),
                )
                continue
            if step is not None and (
                target.id == step.id or not self.is_ancestor(target.id, step.id)
            ):
                self.error(
                    f"{owner}: {where} uses {ref.text}, but '{target.id}' is not a "
                    f"dependency of '{step.id}'",
                    line,
                    f"add '{target.id}' to depends_on of '{step.id}', directly or through "
                    "a step it depends on",
                )
                continue
            if ref.kind in ("outputs", "key") and ref.name not in target.outputs:
                outputs = self._outputs_shown.get(target.id)
                if outputs is None:
                    outputs = self._outputs_shown[target.id] = _listing(target.outputs)
                self.error(
                    f"{owner}: {where} uses {ref.text}, but step '{target.id}' declares "
                    f"no output '{ref.name}' (its outputs: {outputs})",
                    line,
                    f"add '{ref.name}' to the outputs of '{target.id}', or use "
                    f"steps.{target.id}.output for its whole answer",
                )

    def step_hint(self, name: str) -> str:
        """`did you mean ...?` for an unknown step name, or the known steps; once per name."""
        hint = self._step_hints.get(name)
        if hint is None:
            if len(self._step_hints) < _MAX_SUGGESTIONS:
                hint = _suggest(name, self.steps, "step")
            else:
                if self._steps_shown is None:
                    self._steps_shown = f"known steps: {_listing(self.steps)}"
                hint = self._steps_shown
            self._step_hints[name] = hint
        return hint

    def check_workflow_outputs(self) -> None:
        for name, out in self.spec.outputs.items():
            line = self.spec_line(f"outputs.{name}")
            texts = []
            if out.source:
                src = out.source.strip()
                texts.append(src if "{{" in src else "{{ " + src + " }}")
            if out.value is not None and isinstance(out.value, str):
                texts.append(out.value)
            if not texts:
                self.report.warnings.append(f"workflow output '{name}' has no source or value")
            for text in texts:
                self.check_text(
                    references,
                    text,
                    (None, f"output '{name}'", line),
                    f"workflow output '{name}': bad reference",
                    "use source: steps.ID.outputs.KEY",
                )

    def check_settings(self) -> None:
        par = self.spec.settings.parallel_execution
        if par.max_concurrent < 1:
            self.error(
                f"settings.parallel_execution.max_concurrent is {par.max_concurrent}",
                self.spec_line("settings"),
                "set it to 1 or more",
            )
        for step in self.spec.steps:
            if step.retry is not None and step.retry.max_attempts < 1:
                self.error(
                    f"step '{step.id}': retry.max_attempts is {step.retry.max_attempts}",
                    self.line(step, "retry"),
                    "set it to 1 or more",
                )
            if step.timeout is not None and step.timeout <= 0:
                self.error(
                    f"step '{step.id}': timeout is {step.timeout:g}",
                    self.line(step, "timeout"),
                    "give a number of seconds above 0",
                )


def _suggest(name: str, known: Iterable[str], what: str) -> str:
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known {what}s: {_listing(names)}"


def _listing(names: Iterable[str]) -> str:
    """At most _MAX_LISTED names, then "...", or "none"."""
    shown: list[str] = []
    for name in names:
        if len(shown) == _MAX_LISTED:
            return ", ".join(shown) + ", ..."
        shown.append(name)
    return ", ".join(shown) or "none"


def validate_workflow(spec: WorkflowSpec, agents: Mapping[str, AgentSpec]) -> ValidationReport:
    """Check `spec` against the workspace's agents; every error and warning, never raises."""
    return _Checker(spec, agents).run()
