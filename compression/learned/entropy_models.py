"""Entropy models: how likely each quantised latent is, and how to turn latents into bytes.

* `EntropyBottleneck` — the learned, per-channel factorised density of the hyper-latents z
  (Ballé et al. 2018, appendix 6.1): a small monotone network gives each channel's CDF.
* `gaussian_likelihood` — the latents y given the prior: a Gaussian of predicted mean and scale,
  integrated over each unit bin (Minnen et al. 2018, mean-scale).

Training uses the differentiable likelihoods. Coding uses `constriction`'s range coder with
integer probability tables made once at export (`tables.py`) and loaded as data: symbols are
grouped by table row (a hyper-latent channel, or a scale-table entry) so that one model codes
many symbols, in an order both sides know before decoding.
"""
from __future__ import annotations

import math

import constriction
import numpy as np

import keras
from keras import ops

from .coding import PMF_PRECISION, SCALE_MIN, Z_SYMBOL_RANGE_MAX, Z_TAIL_MASS

LIKELIHOOD_BOUND = 1e-9


class EntropyCoderError(ValueError):
    """A string could not be range-decoded into the expected number of symbols."""


def _std_normal_cdf(x):
    return 0.5 * (1.0 + ops.erf(x / math.sqrt(2.0)))


def gaussian_likelihood(values, scales):
    """P(round(v) = v) for a zero-mean Gaussian, using |v| so that the upper tail, where the
    difference of two CDFs near 1 would cancel, is never evaluated."""
    scales = ops.maximum(scales, SCALE_MIN)
    values = ops.abs(values)
    upper = _std_normal_cdf((0.5 - values) / scales)
    lower = _std_normal_cdf((-0.5 - values) / scales)
    return ops.maximum(upper - lower, LIKELIHOOD_BOUND)


@keras.saving.register_keras_serializable(package="mscae")
class EntropyBottleneck(keras.layers.Layer):
    """Learned factorised prior over `channels` channels (last axis)."""

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.filters = tuple(filters)
        self.init_scale = float(init_scale)
        self._tables = None  # (pmf per channel, symbol offset) once built
        dims = (1, *self.filters, 1)
        scale = self.init_scale ** (1 / (len(self.filters) + 1))
        self._matrices, self._biases, self._factors = [], [], []
        for i in range(len(self.filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self._matrices.append(
                self.add_weight(
                    name=f"matrix{i}",
                    shape=(self.channels, dims[i + 1], dims[i]),
                    initializer=keras.initializers.Constant(init),
                )
            )
            self._biases.append(
                self.add_weight(
                    name=f"bias{i}",
                    shape=(self.channels, dims[i + 1], 1),
                    initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=i),
                )
            )
            if i < len(self.filters):
                self._factors.append(
                    self.add_weight(
                        name=f"factor{i}", shape=(self.channels, dims[i + 1], 1), initializer="zeros"
                    )
                )

    def _logits_cumulative(self, inputs):
        """inputs: (channels, 1, n) -> logit of the CDF at each value, same shape."""
        logits = inputs
        for i, matrix in enumerate(self._matrices):
            logits = ops.matmul(ops.softplus(matrix), logits) + self._biases[i]
            if i < len(self._factors):
                logits = logits + ops.tanh(self._factors[i]) * ops.tanh(logits)
        return logits

    def likelihood(self, z):
        """z: (..., channels) -> likelihood of each element under its channel's density."""
        shape = ops.shape(z)
        flat = ops.transpose(ops.reshape(z, (-1, self.channels)))  # (C, n)
        flat = ops.expand_dims(flat, 1)
        lower = self._logits_cumulative(flat - 0.5)
        upper = self._logits_cumulative(flat + 0.5)
        # Evaluate on the side of the median where the sigmoids are far from 1 (precision).
        sign = ops.stop_gradient(-ops.sign(lower + upper))
        lik = ops.abs(ops.sigmoid(sign * upper) - ops.sigmoid(sign * lower))
        lik = ops.maximum(lik, LIKELIHOOD_BOUND)
        return ops.reshape(ops.transpose(ops.squeeze(lik, 1)), shape)

    def call(self, z):
        return self.likelihood(z)

    # --- export ---------------------------------------------------------------------------
    def pmf_table(self) -> tuple[np.ndarray, int]:
        """Each channel's probability mass over the integers where it is not negligible ->
        (pmf (channels, 2·half + 1) float64, half). Export time only: coding uses the stored,
        quantised table."""
        r = Z_SYMBOL_RANGE_MAX
        grid = np.arange(-r, r + 1, dtype=np.float32)
        values = np.broadcast_to(grid[None, None, :], (self.channels, 1, grid.size)).astype(np.float32)
        cdf_upper = np.asarray(ops.convert_to_numpy(ops.sigmoid(self._logits_cumulative(values + 0.5))))[:, 0]
        cdf_lower = np.asarray(ops.convert_to_numpy(ops.sigmoid(self._logits_cumulative(values - 0.5))))[:, 0]
        pmf = np.clip(cdf_upper - cdf_lower, 0, 1).astype(np.float64)
        # The smallest symmetric range that leaves less than Z_TAIL_MASS outside, in every channel.
        tail = np.minimum(cdf_lower, 1 - cdf_upper)  # mass beyond each grid point, per side
        keep = (tail > Z_TAIL_MASS / 2).any(axis=0)
        half = max(int(np.max(np.abs(grid[keep]))) if keep.any() else 1, 1)
        lo = r - half
        return pmf[:, lo : lo + 2 * half + 1], half

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "filters": self.filters,
            "init_scale": self.init_scale,
        }


def new_encoder():
    return constriction.stream.queue.RangeEncoder()


def finish(encoder) -> bytes:
    return encoder.get_compressed().tobytes()


def new_decoder(data: bytes, what: str):
    if len(data) % 4:
        raise EntropyCoderError(f"{what} string length is not a multiple of 4 bytes")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())


def _model(pmf_row: np.ndarray):
    # The integer counts sum to 2^PMF_PRECISION; as float64 they are exact, and constriction's
    # quantisation of them is deterministic (no floats are recomputed from model weights).
    return constriction.stream.model.Categorical(pmf_row.astype(np.float64) / (1 << PMF_PRECISION), perfect=False)


def encode_grouped(encoder, symbols: np.ndarray, rows: np.ndarray, pmf: np.ndarray, offset: int) -> float:
    """Code `symbols` (flat ints in [−offset, offset]), each under table row `rows[i]`: all
    symbols of the lowest row first, each group in order. -> the bits the tables assign them."""
    symbols = np.asarray(symbols)
    bits = 0.0
    for row in np.unique(rows):
        group = symbols[rows == row].astype(np.int32) + np.int32(offset)  # |symbol| ≤ 2^10
        encoder.encode(group, _model(pmf[row]))
        # From symbol counts: per-symbol float64 logs of a 24-megapixel photo's largest group
        # would be hundreds of megabytes.
        counts = np.bincount(group, minlength=pmf.shape[-1])
        bits -= float(counts @ np.log2(pmf[row] / (1 << PMF_PRECISION)))
    return bits


def decode_grouped(decoder, rows: np.ndarray, pmf: np.ndarray, offset: int, what: str) -> np.ndarray:
    """The inverse of `encode_grouped`: rows known, symbols recovered (flat int64)."""
    out = np.empty(rows.shape, np.int32)
    try:
        for row in np.unique(rows):
            where = rows == row
            out[where] = decoder.decode(_model(pmf[row]), int(where.sum()))
    except Exception as exc:  # constriction raises plain exceptions on invalid data
        raise EntropyCoderError(f"{what} string is corrupt ({exc})") from exc
    out -= offset
    return out
