"""Training recipes the new-run form offers: the YAML files of ``configs/`` (shipped in the package as
``nightscan_edge/configs``), each a partial config a user would pass with ``--config``.

A recipe fits a model when it names that model, or names none and sets nothing of the other input kind
(``small-photos.yaml`` fits every photo model). Choosing one fills the form with the preset merged with the
recipe; the form's usual preset diff then shows what the recipe changes, and the run gets exactly those values.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from nightscan_edge.models import MODELS
from nightscan_edge.web.forms import KIND_ONLY_FIELDS, _leaf_values

RECIPE_SUFFIX = ".yaml"


@dataclass(frozen=True)
class Recipe:
    name: str  # the file's stem: "pretrained-photos"
    description: str  # its first comment line
    values: dict[str, Any]  # the partial config it holds

    def fits(self, model_name: str) -> bool:
        named = (self.values.get("model") or {}).get("name")
        if named is not None:
            return bool(named == model_name)
        kind = MODELS.get(model_name).input_kind
        other_kind_prefixes = tuple(p for k, ps in KIND_ONLY_FIELDS.items() if k != kind for p in ps)
        return not any(key.startswith(other_kind_prefixes) for key in _leaf_values(self.values))


def _description(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def list_recipes() -> list[Recipe]:
    """Every recipe shipped with the package, by name."""
    folder = resources.files("nightscan_edge") / "configs"
    recipes = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(RECIPE_SUFFIX):
            continue
        text = entry.read_text(encoding="utf-8")
        recipes.append(Recipe(entry.name[: -len(RECIPE_SUFFIX)], _description(text), yaml.safe_load(text) or {}))
    return recipes


def recipes_for(model_name: str) -> list[Recipe]:
    return [recipe for recipe in list_recipes() if recipe.fits(model_name)]
