"""How an image becomes a sequence (`data.sequence`); numpy only, so it is cheap to test and to check.

rows (28 steps of 28 pixels) is the classic set-up; columns reads the image sideways; pixels is the
"sequential MNIST" benchmark (784 steps of one pixel), and permuted_pixels the same with one fixed
shuffle of the pixel order, which removes the local structure that makes pixels easier.
"""

from __future__ import annotations

import numpy as np

SIDE = 28
SHAPES: dict[str, tuple[int, int]] = {
    "rows": (SIDE, SIDE),
    "columns": (SIDE, SIDE),
    "pixels": (SIDE * SIDE, 1),
    "permuted_pixels": (SIDE * SIDE, 1),
}


def sequence_shape(layout: str) -> tuple[int, int]:
    """(time steps, features per step): the model's input shape for `layout`."""
    return SHAPES[layout]


def pixel_permutation(seed: int) -> np.ndarray:
    """The fixed pixel order of permuted_pixels: the same seed always gives the same order."""
    return np.random.default_rng(seed).permutation(SIDE * SIDE)


def to_sequences(images: np.ndarray, layout: str, permutation_seed: int = 0) -> np.ndarray:
    """Images (N, 28, 28) as sequences (N, *sequence_shape(layout)); rows returns `images` unchanged."""
    if layout == "rows":
        return images
    if layout == "columns":
        return np.ascontiguousarray(images.transpose(0, 2, 1))
    flat = images.reshape(len(images), SIDE * SIDE)
    if layout == "permuted_pixels":
        flat = flat[:, pixel_permutation(permutation_seed)]
    if layout in ("pixels", "permuted_pixels"):
        return np.ascontiguousarray(flat[..., np.newaxis])
    raise ValueError(f"unknown data.sequence {layout!r}; allowed: {', '.join(SHAPES)}")
