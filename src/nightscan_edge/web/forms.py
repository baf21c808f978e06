"""The new-run form, generated from the one config schema so every option is reachable and validated once.

Form values go through the same ``Config`` validation as the CLI; problems come back keyed by dotted field
name (``config.field_errors``) so the page can show each next to its field. The worker receives only the
values that differ from the model's preset, as ``--set section.key=value`` overrides.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from nightscan_edge.config import Config, resolve_config
from nightscan_edge.config_layers import ConfigError, check_sections, field_errors, parse_override
from nightscan_edge.errors import UserError
from nightscan_edge.models import MODELS
from nightscan_edge.web.form_labels import human_label, unit_of

# Set by the page itself (dataset picker, model picker, run folder), not by form fields.
MANAGED_FIELDS = {"data.path", "model.name", "train.runs_dir", "train.run_name"}
BASIC_FIELDS = (
    "train.epochs",
    "train.batch_size",
    "train.lr",
    "train.optimizer",
    "train.scheduler",
    "train.early_stopping_patience",
    "data.val_fraction",
    "train.seed",
)


# Export and benchmark settings belong to the export/bench jobs on the run page, not to training.
TRAINING_SECTIONS = ("data", "model", "train")
GROUP_TITLES = {"data": "Data", "model": "Model", "train": "Training"}


class RunConfigError(UserError):
    """Invalid run settings: a one-line message plus the problems keyed by dotted field name."""

    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class FormField:
    name: str  # dotted, e.g. "train.lr"
    widget: str  # "checkbox" | "select" | "text" | "json"
    value: str
    choices: tuple[str, ...] = ()
    description: str = ""
    optional: bool = False
    checked: bool = False
    preset: str = ""  # the model preset's value, for the "changed from preset" marks

    @property
    def section(self) -> str:
        return self.name.split(".")[0]

    @property
    def label(self) -> str:
        return human_label(self.name)

    @property
    def unit(self) -> str:
        return unit_of(self.name)

    @property
    def changed(self) -> bool:
        return self.value != self.preset

    @property
    def basic(self) -> bool:
        return self.name in BASIC_FIELDS


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional) for ``X | None``."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007 (built at run time)
    return annotation, False


# An optional boolean has three states (``None`` means "the default", e.g. train.channels_last: on for photo
# models); a checkbox has two and would turn an untouched ``None`` into ``False``. It is a select: "" is None.
OPTIONAL_BOOL_CHOICES = ("", "True", "False")


def _widget(annotation: Any) -> tuple[str, tuple[str, ...]]:
    inner, optional = _unwrap(annotation)
    if inner is bool:
        return ("select", OPTIONAL_BOOL_CHOICES) if optional else ("checkbox", ())
    if typing.get_origin(inner) is Literal:
        # An optional choice (e.g. train.embedding_teacher) offers "(none)" first, so an untouched None stays None.
        none_first = ("",) if optional else ()
        return "select", none_first + tuple(str(choice) for choice in typing.get_args(inner))
    if inner in (int, float, str) or typing.get_origin(inner) in (typing.Union, types.UnionType):
        return "text", ()
    return "json", ()


def _is_text(annotation: Any) -> bool:
    return _unwrap(annotation)[0] is str


def _leaves(
    model_type: type[BaseModel], values: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, FieldInfo, Any]]:
    for name, info in model_type.model_fields.items():
        dotted = f"{prefix}{name}"
        inner, optional = _unwrap(info.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _leaves(inner, values.get(name) or {}, dotted + ".")
            continue
        literal_args = typing.get_args(inner) if typing.get_origin(inner) is Literal else ()
        if len(literal_args) == 1 and not optional:  # a constant tag such as spec kind (an optional one is a choice)
            continue
        yield dotted, info, values.get(name)


def _format(value: Any, widget: str) -> str:
    if value is None:
        return ""
    if widget == "json":
        return json.dumps(value)
    return str(value)


# Options that only mean something for the other input kind are left off that kind's form.
KIND_ONLY_FIELDS = {
    "audio": ("data.audio_augment.", "model.audio."),
    "image": ("data.photo_augment.", "model.image_size", "model.channels", "model.weights", "train.channels_last"),
}


def form_fields(
    config_values: dict[str, Any],
    input_kind: str | None = None,
    preset: dict[str, Any] | None = None,
    training_only: bool = False,
) -> list[FormField]:
    """Every configurable leaf of ``Config`` with its current value, as form widgets (``training_only``:
    the data, model and train sections; ``preset``: the values each field is compared with)."""
    preset_leaves = {dotted: value for dotted, _, value in _leaves(Config, preset or config_values)}
    hidden = tuple(
        prefix
        for kind, prefixes in KIND_ONLY_FIELDS.items()
        if input_kind and kind != input_kind
        for prefix in prefixes
    )
    fields = []
    for dotted, info, value in _leaves(Config, config_values):
        if dotted in MANAGED_FIELDS or (hidden and dotted.startswith(hidden)):
            continue
        if training_only and dotted.split(".")[0] not in TRAINING_SECTIONS:
            continue
        widget, choices = _widget(info.annotation)
        fields.append(
            FormField(
                name=dotted,
                widget=widget,
                value=_format(value, widget),
                choices=choices,
                description=info.description or "",
                optional=_unwrap(info.annotation)[1],
                checked=bool(value),
                preset=_format(preset_leaves.get(dotted), widget),
            )
        )
    return fields


def form_model_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalogue rows as the new-run form offers them (the first is what an untouched form trains): edge models
    first, smallest first, then server models, those whose weights carry a licence (birdnet_head: non-commercial,
    and an extra to install) last; audio before photo where the size ties."""
    return sorted(
        rows,
        key=lambda row: (
            row["tier"] != "edge",
            row.get("licence") is not None,
            row.get("budget_mb") or float("inf"),
            row["input_kind"] != "audio",
            row["name"],
        ),
    )


def preset_values(model_name: str) -> dict[str, Any]:
    """The model's preset config as plain JSON values (what a new-run form starts from)."""
    return resolve_config({"model": {"name": model_name}}).model_dump(mode="json")


def _set(nested: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        nested = nested.setdefault(part, {})
    nested[parts[-1]] = value


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def parse_form(form: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Form strings -> nested config values; unparseable entries come back as field errors."""
    nested: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for dotted, info, _ in _leaves(Config, {}):
        if dotted in MANAGED_FIELDS or dotted not in form:
            continue
        raw = form[dotted][-1]  # checkboxes send a hidden "false" first, then "true" when ticked
        widget, choices = _widget(info.annotation)
        optional = _unwrap(info.annotation)[1]
        if widget == "checkbox":
            value: Any = raw.lower() in ("true", "on", "1", "yes")
        elif raw.strip() == "" and optional:
            value = None
        elif choices == OPTIONAL_BOOL_CHOICES:
            value = raw.lower() in ("true", "on", "1", "yes")
        elif _is_text(info.annotation) or (
            widget == "select"
            and all(isinstance(choice, str) for choice in typing.get_args(_unwrap(info.annotation)[0]))
        ):
            value = raw
        else:
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                errors[dotted] = "not a valid value (numbers, true/false, JSON lists or objects)"
                continue
        _set(nested, dotted, value)
    return nested, errors


def _leaf_values(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in ("model.options",):
            flat.update(_leaf_values(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def validate_run_config(
    model_name: str, data_path: str, values: dict[str, Any] | None = None, overrides: list[str] | None = None
) -> tuple[Config, list[str]]:
    """Validate settings exactly as the CLI would; return the config and the worker's ``--set`` overrides."""

    if model_name not in MODELS:
        message = f"unknown model {model_name!r}; known: {', '.join(sorted(MODELS))}"
        raise RunConfigError(message, {"model.name": message})
    preset = preset_values(model_name)
    try:
        requested = _merge(preset, check_sections(values, "config"))
        for text in overrides or []:
            requested = _merge(requested, parse_override(text))
    except ConfigError as error:
        raise RunConfigError(str(error), {}) from None
    requested = _merge(requested, {"model": {"name": model_name}, "data": {"path": data_path}})
    try:
        Config.model_validate(requested)
    except ValidationError as error:
        fields = field_errors(error)
        raise RunConfigError("; ".join(f"{k}: {v}" for k, v in fields.items()), fields) from None
    config = resolve_config(requested)
    resolved = _leaf_values(config.model_dump(mode="json"))
    defaults = _leaf_values(_merge(preset, {"model": {"name": model_name}, "data": {"path": data_path}}))
    worker_overrides = [
        f"{key}={json.dumps(value)}"
        for key, value in resolved.items()
        if key not in MANAGED_FIELDS and defaults.get(key) != value
    ]
    return config, worker_overrides
