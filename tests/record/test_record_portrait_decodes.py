"""The synthetic portrait is a real JPEG: an independent decoder (Pillow) reads it."""

from __future__ import annotations

import io

import pytest

from card_service.record.sample import synthetic_portrait

Image = pytest.importorskip("PIL.Image", reason="Pillow is a dev dependency")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_synthetic_portrait_decodes_with_pillow(seed: int) -> None:
    data = synthetic_portrait(seed=seed)
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every scan, not just the header
    assert image.format == "JPEG"
    assert image.size[0] >= 100 and image.size[1] >= 100
    assert 8_000 <= len(data) <= 12_000  # "a typical record with a 10 KB portrait"
