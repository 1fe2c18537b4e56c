"""Run a workflow: a form built from its declared inputs.

Each input gets the field its type asks for: a list of choices for `enum`, a switch for
booleans, number fields for numbers, JSON for arrays and objects, text otherwise. Required
inputs are marked `*` and checked, and the whole set goes through the engine's own input
rules before the form closes, so a run never starts with inputs it would refuse.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch

from paracle_engine import InputSpec, ParacleError, WorkflowSpec

from ..safe import line, markup, plain

_JSON_TYPES = {"array", "list", "object", "dict"}
_BOOL_TYPES = {"boolean", "bool"}
_NUMBER_TYPES: dict[str, Literal["integer", "number"]] = {
    "integer": "integer",
    "int": "integer",
    "number": "number",
    "float": "number",
}


def field_for(name: str, spec: InputSpec) -> Widget:
    """The widget that edits one input, holding its default."""
    kind = spec.type.lower()
    field_id = "input-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
    default = spec.default if (spec.has_default or spec.default is not None) else None
    if spec.enum:
        options = [(plain(v, one_line=True), v) for v in spec.enum]
        value = default if default in spec.enum else Select.NULL
        return Select(options, value=value, allow_blank=value is Select.NULL, id=field_id)
    if kind in _BOOL_TYPES:
        return Switch(value=bool(default), id=field_id)
    if kind in _JSON_TYPES:
        example = '["a", "b"]' if kind in ("array", "list") else '{"key": "value"}'
        text = json.dumps(default, ensure_ascii=False) if default is not None else ""
        return Input(text, placeholder=f"JSON, e.g. {example}", id=field_id)
    if kind in _NUMBER_TYPES:
        text = "" if default is None else str(default)
        return Input(text, type=_NUMBER_TYPES[kind], placeholder=kind, id=field_id)
    # What the field shows is what runs: a default from the workspace, with controls inert.
    text = "" if default is None else line(default)
    return Input(text, placeholder=line(kind), id=field_id)


def read_field(name: str, spec: InputSpec, widget: Widget) -> tuple[bool, Any]:
    """(given, value) of one field; raises ValueError with a line for the person."""
    kind = spec.type.lower()
    if isinstance(widget, Select):
        return (False, None) if widget.is_blank() else (True, widget.value)
    if isinstance(widget, Switch):
        return True, widget.value
    assert isinstance(widget, Input)
    text = widget.value.strip()
    if not text:
        return False, None
    if kind in _JSON_TYPES:
        try:
            return True, json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if kind in ("integer", "int"):
        return True, int(text)
    if kind in ("number", "float"):
        return True, float(text)
    return True, widget.value


class RunWorkflowForm(ModalScreen[dict[str, Any] | None]):
    """Dismisses with the inputs to pass (only those given; defaults fill the rest)."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Run", priority=True, id="submit"),
        Binding("escape", "dismiss(None)", "Close", id="close"),
    ]

    def __init__(self, spec: WorkflowSpec, *, values: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.values = values or {}
        self._fields: dict[str, Widget] = {}

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Vertical(id="run-workflow", classes="dialog"):
            # Names, descriptions and choices come from the workspace: values, never markup.
            yield Static(
                markup("Run workflow [b]$name[/b]", name=spec.name), classes="dialog-title"
            )
            if spec.description:
                yield Static(plain(" ".join(spec.description.split())), classes="dialog-help")
            steps = len(spec.steps)
            with VerticalScroll(id="workflow-fields"):
                if not spec.inputs:
                    yield Static(
                        f"No inputs to fill: {steps} step{'s' if steps != 1 else ''} will run.",
                        classes="dialog-help",
                    )
                for name, decl in spec.inputs.items():
                    mark = " [b]*[/b]" if decl.required else ""
                    label = markup(f"$name{mark}  [dim]$type[/dim]", name=name, type=decl.type)
                    yield Label(label, classes="field-label")
                    if decl.description:
                        yield Static(
                            plain(" ".join(decl.description.split())), classes="field-help"
                        )
                    widget = self._fields[name] = field_for(name, decl)
                    yield widget
            yield Static("", id="run-workflow-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run  ctrl+s", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        for name, value in self.values.items():
            self._prefill(name, value)
        fields = self.query(
            "#workflow-fields Input, #workflow-fields Select, #workflow-fields Switch"
        )
        (fields.first() if fields else self.query_one("#run", Button)).focus()

    def _prefill(self, name: str, value: Any) -> None:
        widget = self._fields.get(name)
        if isinstance(widget, Select):
            widget.value = value
        elif isinstance(widget, Switch):
            widget.value = bool(value)
        elif isinstance(widget, Input):
            is_json = self.spec.inputs[name].type.lower() in _JSON_TYPES
            widget.value = json.dumps(value, ensure_ascii=False) if is_json else str(value)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#run")
    def _run(self) -> None:
        self.action_submit()

    @on(Input.Submitted)
    def _next_or_run(self, event: Input.Submitted) -> None:
        # Enter in the last field runs; in any other it moves on, as a form should.
        inputs = list(self.query("#workflow-fields Input"))
        if inputs and event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        from paracle_engine import resolve_inputs

        error = self.query_one("#run-workflow-error", Static)
        given: dict[str, Any] = {}
        missing: list[str] = []
        for name, decl in self.spec.inputs.items():
            widget = self._fields[name]
            try:
                present, value = read_field(name, decl, widget)
            except ValueError as exc:
                error.update(plain(str(exc)))
                widget.focus()
                return
            if present:
                given[name] = value
            elif decl.required and not (decl.has_default or decl.default is not None):
                missing.append(name)
        if missing:
            error.update(f"Fill in {', '.join(missing)} (required).")
            self._fields[missing[0]].focus()
            return
        try:
            resolve_inputs(self.spec, given)
        except ParacleError as exc:
            error.update(plain(exc.one_line()))
            return
        self.dismiss(given)
