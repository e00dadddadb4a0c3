"""The numbers both sides of the learned codec agree on, in numpy only: the latent grid (images
are padded to a multiple of DOWNSAMPLING), the checkerboard of anchors, the symbol ranges and the
precision of the probability tables. The coding tables, the entropy models, the model and the
coder read them from here; nothing here imports TensorFlow or Keras."""
from __future__ import annotations

import numpy as np

DOWNSAMPLING = 64  # g_a (16) × h_a (4): images are padded to a multiple of this
PMF_PRECISION = 24  # the range coder's tables: integer counts summing to 2^PMF_PRECISION
SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64
Y_SYMBOL_RANGE = 511  # latents are clipped to ±this before coding (the decoder sees the clip too)
Z_SYMBOL_RANGE_MAX = 128
Z_TAIL_MASS = 1e-8


def pad(image: np.ndarray, multiple: int = DOWNSAMPLING) -> np.ndarray:
    """Pad by edge replication (cheaper to code than zeros) to a multiple of `multiple`."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge") if (ph or pw) else image


def checkerboard(shape: tuple[int, int]) -> np.ndarray:
    """True at anchor positions ((row + column) even)."""
    rows, cols = np.indices(shape)
    return (rows + cols) % 2 == 0
