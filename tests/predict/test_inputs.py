"""Edge photo preprocessing (PIL + numpy only) equals the training pipeline's, to float precision."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nightscan_edge.predict.inputs import image_array
from nightscan_edge.spec import ImageSpec


@pytest.mark.parametrize(
    "spec", [ImageSpec(image_size=32), ImageSpec(image_size=48, channels=1, mean=(0.5,), std=(0.25,))]
)
def test_image_preprocessing_matches_training(spec, tmp_path) -> None:
    import torch

    from nightscan_edge.data.datasets import image_transform
    from nightscan_edge.data.media import read_image

    path = tmp_path / "trap.png"
    Image.fromarray((np.random.default_rng(1).random((50, 70, 3)) * 255).astype(np.uint8)).save(path)
    training = image_transform(spec)(torch.from_numpy(read_image(path, spec))).numpy()
    edge = image_array(path, spec)
    assert edge.shape == (spec.channels, spec.image_size, spec.image_size)
    np.testing.assert_allclose(edge, training, atol=1e-6)
