"""What ``nightscan-edge tune`` may change in each model family, declared once, next to the registry.

A family's ``SearchSpace`` names its dimensions (typed ranges or choices), how a set of values becomes a config
layer (``model``/``data``/``train`` sections, the same dict ``resolve_config`` takes) and its smallest
configuration (the one with the smallest file and latency, measured first so an unreachable budget is known
after one trial). The values are plain data: no sampler is imported here, so the models floor stays below the
tuner that draws from it (``nightscan_edge.tune``).

A user narrows a space with a YAML mapping (``--space``): ``key: [a, b]`` searches those choices, ``key:
{low: x, high: y}`` a narrower range, ``key: value`` fixes the value; a key the family does not declare is
refused up front in one line that lists the keys it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nightscan_edge.errors import UserError
from nightscan_edge.models.lightweight_audio import DEFAULT_WIDTHS as LIGHTWEIGHT_WIDTHS
from nightscan_edge.models.ultralight_audio import DEFAULT_BLOCKS as ULTRALIGHT_BLOCKS
from nightscan_edge.models.ultralight_audio import DEFAULT_STEM_CHANNELS as ULTRALIGHT_STEM
from nightscan_edge.registry import Registry

Value = int | float | str | bool
ConfigLayer = dict[str, dict[str, Any]]


class SearchSpaceError(UserError):
    """A search space a tune cannot use: a key the family lacks, a range outside the declared one, a bad type."""


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def narrowed(self, key: str, low: float, high: float) -> FloatRange:
        if not self.low <= low <= high <= self.high:
            raise SearchSpaceError(
                f"search space '{key}': {low:g}..{high:g} is outside the declared {self.low:g}..{self.high:g}"
            )
        return replace(self, low=float(low), high=float(high))

    def contains(self, value: Value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1

    def narrowed(self, key: str, low: float, high: float) -> IntRange:
        if not (float(low).is_integer() and float(high).is_integer()):
            raise SearchSpaceError(f"search space '{key}': takes whole numbers; got {low}..{high}")
        if not self.low <= low <= high <= self.high:
            raise SearchSpaceError(
                f"search space '{key}': {low}..{high} is outside the declared {self.low}..{self.high}"
            )
        return replace(self, low=int(low), high=int(high))

    def contains(self, value: Value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"{self.low}..{self.high}" + (f" step {self.step}" if self.step != 1 else "")


@dataclass(frozen=True)
class Choice:
    options: tuple[Value, ...]

    def contains(self, value: Value) -> bool:
        return value in self.options

    def describe(self) -> str:
        return "{" + ", ".join(str(option) for option in self.options) + "}"


Dimension = FloatRange | IntRange | Choice


@dataclass(frozen=True)
class SearchSpace:
    """A family's dimensions, their defaults when fixed, the values -> config mapping and the smallest point."""

    family: str
    dimensions: Mapping[str, Dimension]
    to_config: Callable[[Mapping[str, Value]], ConfigLayer]
    smallest: Mapping[str, Value]
    fixed: Mapping[str, Value] = field(default_factory=dict)  # keys the user pinned (not searched)
    # keys only meaningful with a distillation teacher; dropped from the space when there is none
    teacher_keys: frozenset[str] = frozenset()

    def keys(self) -> list[str]:
        return sorted(self.dimensions)

    def describe(self) -> dict[str, str]:
        """One text per key: the range searched or the fixed value (the study's record of its space)."""
        searched = {key: dimension.describe() for key, dimension in self.dimensions.items()}
        return dict(sorted({**searched, **{key: f"= {value}" for key, value in self.fixed.items()}}.items()))

    def without_teacher(self) -> SearchSpace:
        kept = {key: value for key, value in self.dimensions.items() if key not in self.teacher_keys}
        return replace(self, dimensions=kept, smallest={k: v for k, v in self.smallest.items() if k in kept})

    def narrowed(self, overrides: Mapping[str, Any]) -> SearchSpace:
        """The space a user's ``--space`` mapping asks for (see the module docstring)."""
        unknown = sorted(set(overrides) - set(self.dimensions))
        if unknown:
            raise SearchSpaceError(
                f"search space key(s) {', '.join(repr(k) for k in unknown)} not in {self.family}'s space; "
                f"it has: {', '.join(self.keys())}"
            )
        dimensions = dict(self.dimensions)
        fixed = dict(self.fixed)
        for key, wanted in overrides.items():
            declared = dimensions[key]
            if isinstance(wanted, list):
                if not wanted or not all(declared.contains(value) for value in wanted):
                    raise SearchSpaceError(
                        f"search space '{key}': choices {wanted} must be inside the declared {declared.describe()}"
                    )
                dimensions[key] = Choice(tuple(wanted))
            elif isinstance(wanted, dict):
                if set(wanted) != {"low", "high"} or isinstance(declared, Choice):
                    raise SearchSpaceError(
                        f"search space '{key}': a range is {{low: X, high: Y}} on a numeric key; "
                        f"{key} is {declared.describe()}"
                    )
                dimensions[key] = declared.narrowed(key, wanted["low"], wanted["high"])
            else:
                if not declared.contains(wanted):
                    raise SearchSpaceError(f"search space '{key}': {wanted!r} is outside {declared.describe()}")
                del dimensions[key]
                fixed[key] = wanted
        smallest = {key: _nearest(dimensions[key], value) for key, value in self.smallest.items() if key in dimensions}
        return replace(self, dimensions=dimensions, fixed=fixed, smallest=smallest)

    def config_layer(self, values: Mapping[str, Value]) -> ConfigLayer:
        return self.to_config({**self.fixed, **values})


def _nearest(dimension: Dimension, value: Value) -> Value:
    """The smallest point moved inside a narrowed dimension (its end nearest the declared smallest value)."""
    if dimension.contains(value):
        return value
    if isinstance(dimension, Choice):
        numeric = [option for option in dimension.options if isinstance(option, (int, float))]
        target = float(value) if isinstance(value, (int, float)) else 0.0
        return min(numeric, key=lambda option: abs(float(option) - target)) if numeric else dimension.options[0]
    assert isinstance(value, (int, float))
    return dimension.low if abs(value - dimension.low) <= abs(value - dimension.high) else dimension.high


SEARCH_SPACES: Registry[SearchSpace] = Registry("search space")

# Keys every family understands, and where each lands in the config.
TRAINING_KEYS: dict[str, Dimension] = {
    "lr": FloatRange(1e-4, 1e-2, log=True),
    "weight_decay": FloatRange(1e-6, 1e-2, log=True),
    "augment_strength": FloatRange(0.0, 1.0),
    "pruning_ratio": Choice((0.0, 0.25, 0.5)),  # share of the MACs removed by `prune` after training
    "distill_alpha": FloatRange(0.0, 0.9),  # with --teacher only
}
TEACHER_KEYS = frozenset({"distill_alpha"})


def _training_layer(values: Mapping[str, Value], photo: bool) -> ConfigLayer:
    """``lr``, ``weight_decay``, ``augment_strength`` and ``distill_alpha`` as config sections."""
    layer: ConfigLayer = {"train": {}, "data": {}}
    for key in ("lr", "weight_decay", "distill_alpha"):
        if key in values:
            layer["train"][key] = values[key]
    if "augment_strength" in values:
        strength = float(values["augment_strength"])
        if photo:
            layer["data"]["photo_augment"] = {
                "rotation_degrees": 20.0 * strength,
                "crop_scale": 1.0 - 0.5 * strength,
                "erasing_probability": 0.5 * strength,
            }
        else:
            masks = round(3 * strength)
            layer["data"]["audio_augment"] = {
                "gain_db": 12.0 * strength,
                "spec_augment": masks > 0,
                "freq_masks": masks,
                "time_masks": masks,
            }
    return layer


def _scaled(channels: int, multiplier: float, multiple: int = 8) -> int:
    """A channel count times ``multiplier``, rounded to a multiple of 8 (SIMD-friendly) and at least 8."""
    return max(multiple, int(round(channels * multiplier / multiple)) * multiple)


def _register(space: SearchSpace) -> None:
    SEARCH_SPACES.add(space.family, space)


def _audio_space(family: str, widths: Callable[[float], dict[str, Any]], max_dropout: float) -> SearchSpace:
    """An audio CNN's space: its widths (``widths(multiplier)`` -> builder options), the log-mel front-end, dropout
    and the training keys; smallest = narrowest, shortest FFT, fewest mel bands, largest hop, most pruning."""

    def to_config(values: Mapping[str, Value]) -> ConfigLayer:
        layer = _training_layer(values, photo=False)
        options = widths(float(values["width_multiplier"])) if "width_multiplier" in values else {}
        if "dropout" in values:
            options["dropout"] = values["dropout"]
        audio = {key: values[key] for key in ("n_fft", "n_mels", "hop_length") if key in values}
        layer["model"] = {"options": options, "audio": audio}
        return layer

    return SearchSpace(
        family,
        {
            "width_multiplier": FloatRange(0.25, 1.0),
            # n_fft 512 cuts the front-end's constants to a third (~0.05 instead of ~0.16 MB at 16-64 bands), and its
            # multiply-adds: at a 0.25 MB budget the front-end is most of the file. Every hop fits both.
            "n_fft": Choice((512, 1024)),
            "n_mels": Choice((16, 32, 48, 64, 96, 128)),
            "hop_length": Choice((128, 256, 512)),
            "dropout": FloatRange(0.0, max_dropout),
            **TRAINING_KEYS,
        },
        to_config,
        smallest={"width_multiplier": 0.25, "n_fft": 512, "n_mels": 16, "hop_length": 512, "pruning_ratio": 0.5},
        teacher_keys=TEACHER_KEYS,
    )


def _ultralight_widths(width: float) -> dict[str, Any]:
    """Every block of the family's default table (and its stem) scaled by ``width``."""
    return {
        "stem_channels": _scaled(ULTRALIGHT_STEM, width),
        "blocks": [[_scaled(channels, width), stride] for channels, stride in ULTRALIGHT_BLOCKS],
    }


def _lightweight_widths(width: float) -> dict[str, Any]:
    return {"widths": [_scaled(channels, width) for channels in LIGHTWEIGHT_WIDTHS]}


_register(_audio_space("ultralight_audio", _ultralight_widths, max_dropout=0.4))
_register(_audio_space("lightweight_audio", _lightweight_widths, max_dropout=0.5))


def _photo_layer(values: Mapping[str, Value]) -> ConfigLayer:
    layer = _training_layer(values, photo=True)
    layer["model"] = {"options": {"dropout": values["dropout"]} if "dropout" in values else {}}
    if "image_size" in values:
        layer["model"]["image_size"] = values["image_size"]
    return layer


for _family in ("mobilenet_v3_small_photo", "efficientnet_lite0_photo"):
    _register(
        SearchSpace(
            _family,
            {
                "image_size": Choice((96, 128, 160, 192, 224)),
                "dropout": FloatRange(0.0, 0.5),
                **TRAINING_KEYS,
            },
            _photo_layer,
            smallest={"image_size": 96, "pruning_ratio": 0.5},
            teacher_keys=TEACHER_KEYS,
        )
    )


def search_space(family: str) -> SearchSpace:
    """The declared space of ``family``; a family without one (server tier) is refused with the list of those
    that have one."""
    if family not in SEARCH_SPACES:
        raise SearchSpaceError(
            f"model '{family}' has no search space to tune; tunable families: {', '.join(SEARCH_SPACES.names())}"
        )
    return SEARCH_SPACES.get(family)
