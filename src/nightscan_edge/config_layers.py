"""The layers a ``Config`` is resolved from, and how their problems are worded.

Owns ``ConfigError``, the per-input-kind presets, YAML file reading, CLI ``section.key=value`` override
parsing, the section check every layer passes, and the one-line wording of pydantic validation errors.
Kept apart from the schema in ``nightscan_edge.config`` so the schema module stays a readable list of options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from nightscan_edge.errors import UserError


class ConfigError(UserError):
    """A configuration problem, worded for the person who wrote it."""


# The seed's presets per input kind; anything here can be overridden by YAML or CLI.
PRESETS: dict[str, dict[str, Any]] = {
    "audio": {
        "train": {"batch_size": 64, "lr": 1e-3, "epochs": 30, "optimizer": "adam", "scheduler": "plateau", "gamma": 0.5}
    },
    "image": {
        "train": {
            "batch_size": 32,
            "lr": 0.01,
            "epochs": 50,
            "optimizer": "sgd",
            "momentum": 0.9,
            "scheduler": "step",
            "step_size": 20,
            "gamma": 0.1,
            "weight_decay": 4e-5,
        },
    },
}


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


SECTIONS = ("data", "model", "train", "export", "bench")


def check_sections(layer: Any, where: str) -> dict[str, Any]:
    """``layer`` must map section names to mappings: ``{"data": "x"}`` or ``model=foo`` would otherwise be
    silently replaced by the preset's section instead of being refused."""
    if layer is None:
        return {}
    if not isinstance(layer, dict):
        raise ConfigError(f"{where} must be a mapping of sections ({', '.join(SECTIONS)}), got {type(layer).__name__}")
    for key, value in layer.items():
        if key not in SECTIONS:
            raise ConfigError(f"{where}: {key}: unknown option; known sections: {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where}: section {key!r} must be a mapping of options (e.g. {key}.KEY=VALUE), "
                f"got {type(value).__name__} {str(value)[:40]!r}"
            )
    return layer


def parse_override(text: str) -> dict[str, Any]:
    """``'train.lr=0.01'`` -> ``{'train': {'lr': 0.01}}`` (value parsed as YAML: numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value, e.g. train.lr=0.01")
    dotted, raw = text.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"override '{text[:80]}' must name section.key (e.g. model.name=...), not a whole section")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override '{text[:80]}': the value is not valid YAML ({_yaml_problem(error)})") from None
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return check_sections(nested, f"override '{text[:80]}'")


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line out of PyYAML's multi-line message: the problem and where."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else " ".join(str(problem).split())


def read_yaml_file(path: str | Path, what: str = "config file") -> Any:
    """A YAML file's content; a missing, binary or malformed file -> one-line ``ConfigError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder; give a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text (a binary file?); give a YAML file") from None
    if "\0" in text:
        raise ConfigError(f"{what} {path} holds NUL bytes (a binary file?); give a YAML file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path} is not valid YAML: {_yaml_problem(error)}") from None


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: ``train.lr: Input should be greater than 0 (got -1)``."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"].replace("Extra inputs are not permitted", "unknown option")
        got = item.get("input")
        suffix = f" (got {got!r})" if not isinstance(got, dict) and got is not None else ""
        lines.append(f"{where}: {message}{suffix}")
    return "; ".join(lines)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Errors keyed by dotted field name (the web form shows them next to each field)."""
    return {".".join(str(p) for p in item["loc"]): item["msg"] for item in error.errors()}
