"""The one typed config: presets per input kind, YAML + CLI overrides, clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nightscan_edge.config import Config, load_config, resolve_config
from nightscan_edge.config_layers import ConfigError, parse_override


def test_audio_and_photo_presets():
    audio = resolve_config({"model": {"name": "ultralight_audio"}})
    assert (
        audio.train.batch_size,
        audio.train.lr,
        audio.train.epochs,
        audio.train.optimizer,
        audio.train.scheduler,
    ) == (64, 1e-3, 30, "adam", "plateau")
    photo = resolve_config({"model": {"name": "mobilenet_v3_small_photo"}})
    assert (
        photo.train.batch_size,
        photo.train.lr,
        photo.train.epochs,
        photo.train.optimizer,
        photo.train.scheduler,
    ) == (32, 0.01, 50, "sgd", "step")


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: lightweight_audio}\ntrain: {epochs: 5, lr: 0.002}\n")
    config = resolve_config(
        yaml_path=path, overrides=["train.lr=0.01", "model.audio.n_mels=64", "export.formats=[onnx,tflite]"]
    )
    assert config.model.name == "lightweight_audio"
    assert config.train.epochs == 5 and config.train.lr == 0.01
    assert config.model.audio.n_mels == 64 and config.export.formats == ["onnx", "tflite"]
    assert config.train.batch_size == 64  # preset survives
    with pytest.raises(ValidationError):
        config.train.epochs = 3  # frozen


def test_round_trip_through_yaml(tmp_path):
    config = resolve_config(overrides=["train.epochs=3"])
    (tmp_path / "config.yaml").write_text(config.to_yaml())
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.lrr=0.1", "train.lrr: unknown option"),
        ("train.lr=-1", "train.lr: Input should be greater than 0"),
        ("train.optimizer=rmsprop", "train.optimizer"),
        ("model.name=tiny_vit", "unknown model 'tiny_vit'; known:"),
        ("bogus.x=1", "bogus: unknown option"),
        ("train.lr", "must look like section.key=value"),
    ],
)
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        resolve_config(overrides=[override])
    assert "\n" not in str(info.value)


def test_parse_override_types():
    assert parse_override("train.epochs=3") == {"train": {"epochs": 3}}
    assert parse_override("train.early_stopping_patience=null") == {"train": {"early_stopping_patience": None}}


def test_missing_yaml_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(yaml_path=tmp_path / "none.yaml")


def test_defaults_validate():
    assert Config().model.audio.n_mels == 128


def test_shipped_small_photo_recipe_resolves_over_the_photo_preset():
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "configs" / "small-photos.yaml"
    config = resolve_config(
        {"model": {"name": "mobilenet_v3_small_photo"}}, yaml_path=recipe, overrides=["train.epochs=3"]
    )
    assert config.model.image_size == 128
    assert config.data.photo_augment.trivial_augment and config.data.photo_augment.erasing_probability == 0.25
    assert (config.train.scheduler, config.train.early_stopping_patience) == ("cosine", None)
    assert (config.train.optimizer, config.train.lr, config.train.batch_size) == ("sgd", 0.01, 32)  # preset kept
    assert config.train.epochs == 3  # command-line overrides still win


def test_every_shipped_recipe_resolves_and_the_package_copy_matches_configs():
    """A recipe the web form offers must validate; ``configs/`` (what the docs name) is what the wheel ships."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    shipped = sorted((root / "src" / "nightscan_edge" / "configs").glob("*.yaml"))
    assert [p.name for p in shipped] == sorted(p.name for p in (root / "configs").glob("*.yaml"))
    for recipe in shipped:
        assert recipe.read_text() == (root / "configs" / recipe.name).read_text(), recipe.name
        model = (yaml.safe_load(recipe.read_text()).get("model") or {}).get("name", "mobilenet_v3_small_photo")
        config = resolve_config({"model": {"name": model}}, yaml_path=recipe)
        assert config.model.name == model
    small = resolve_config(yaml_path=root / "configs" / "few-clips-new-species-small.yaml")
    assert (small.model.name, small.train.embedding_teacher, small.train.embedding_epochs) == (
        "ultralight_audio",
        "birdnet",
        10,
    )
