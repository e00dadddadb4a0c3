"""Entropy models: how likely each quantised latent is, and how to turn latents into bytes.

* `EntropyBottleneck` — the learned, per-channel factorised density of the hyper-latents z
  (Ballé et al. 2018, appendix 6.1): a small monotone network gives each channel's CDF.
* `GaussianConditional` — the latents y given the hyperprior: a Gaussian of predicted mean and
  scale, integrated over each unit bin (Minnen et al. 2018, mean-scale).

Training uses the differentiable likelihoods. Coding uses `constriction`'s range coder: the
factorised density is tabulated per channel once (`build_tables`), and predicted scales are
snapped to a fixed log-spaced table so that encoder and decoder index exactly the same models.
Coding before the tables exist raises a message that says what to do.
"""
from __future__ import annotations

import math

import constriction
import numpy as np

import keras
from keras import ops

LIKELIHOOD_BOUND = 1e-9
SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64
# Symbols are clipped to these ranges before coding. The decoder sees the clipped values too,
# so a (practically never seen) outlier costs fidelity, never decodability.
Y_SYMBOL_RANGE = 511
Z_SYMBOL_RANGE_MAX = 128
Z_TAIL_MASS = 1e-8


class EntropyCoderError(ValueError):
    """A string could not be range-decoded into the expected number of symbols."""


def scale_table() -> np.ndarray:
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def scale_indexes(scales: np.ndarray) -> np.ndarray:
    """Nearest table entry in the log domain; encoder and decoder both call this."""
    table = scale_table()
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    idx = np.rint((np.log(np.maximum(scales, SCALE_MIN)) - math.log(SCALE_MIN)) / step)
    return np.clip(idx, 0, len(table) - 1).astype(np.int64)


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

    # --- coding -----------------------------------------------------------------------------
    def build_tables(self):
        """Tabulate each channel's probability mass over the integers where it is not negligible."""
        r = Z_SYMBOL_RANGE_MAX
        grid = np.arange(-r, r + 1, dtype=np.float32)
        values = np.broadcast_to(grid[None, None, :], (self.channels, 1, grid.size)).astype(np.float32)
        cdf_upper = np.asarray(ops.convert_to_numpy(ops.sigmoid(self._logits_cumulative(values + 0.5))))[:, 0]
        cdf_lower = np.asarray(ops.convert_to_numpy(ops.sigmoid(self._logits_cumulative(values - 0.5))))[:, 0]
        pmf = np.clip(cdf_upper - cdf_lower, 0, 1).astype(np.float64)
        # The smallest symmetric range that leaves less than Z_TAIL_MASS outside, in every channel.
        tail = np.minimum(cdf_lower, 1 - cdf_upper)  # mass beyond each grid point, per side
        keep = (tail > Z_TAIL_MASS / 2).any(axis=0)
        half = int(np.max(np.abs(grid[keep]))) if keep.any() else 1
        half = max(half, 1)
        lo = r - half
        self._tables = (pmf[:, lo : lo + 2 * half + 1], half)

    @property
    def tables_built(self) -> bool:
        return self._tables is not None

    def _require_tables(self):
        if self._tables is None:
            raise RuntimeError(
                "EntropyBottleneck tables are not built; call model.build_tables() after "
                "loading or training the weights, before compress/decompress."
            )
        return self._tables

    def to_symbols(self, z: np.ndarray) -> np.ndarray:
        _, half = self._require_tables()
        return np.clip(np.rint(z), -half, half).astype(np.int32)

    def compress(self, z_int: np.ndarray) -> bytes:
        """z_int: (h, w, channels) integers from `quantize` -> bytes."""
        pmf, half = self._require_tables()
        encoder = constriction.stream.queue.RangeEncoder()
        for c in range(self.channels):
            model = constriction.stream.model.Categorical(pmf[c], perfect=False)
            encoder.encode((z_int[..., c].ravel() + half).astype(np.int32), model)
        return encoder.get_compressed().tobytes()

    def decompress(self, data: bytes, spatial_shape: tuple[int, int]) -> np.ndarray:
        pmf, half = self._require_tables()
        if len(data) % 4:
            raise EntropyCoderError("hyper-latent string length is not a multiple of 4 bytes")
        count = int(np.prod(spatial_shape))
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
        out = np.empty((*spatial_shape, self.channels), dtype=np.int32)
        try:
            for c in range(self.channels):
                model = constriction.stream.model.Categorical(pmf[c], perfect=False)
                out[..., c] = decoder.decode(model, count).reshape(spatial_shape) - half
        except Exception as exc:  # constriction raises plain exceptions on invalid data
            raise EntropyCoderError(f"hyper-latent string is corrupt ({exc})") from exc
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "filters": self.filters,
            "init_scale": self.init_scale,
        }


class GaussianConditional:
    """Codes latents given their predicted means and scales (no weights of its own)."""

    likelihood = staticmethod(gaussian_likelihood)

    @staticmethod
    def to_symbols(y: np.ndarray, means: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(y - means), -Y_SYMBOL_RANGE, Y_SYMBOL_RANGE).astype(np.int32)

    @staticmethod
    def compress(symbols: np.ndarray, scales: np.ndarray) -> bytes:
        stds = scale_table()[scale_indexes(scales.ravel())]
        model = constriction.stream.model.QuantizedGaussian(-Y_SYMBOL_RANGE, Y_SYMBOL_RANGE)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols.ravel().astype(np.int32), model, np.zeros_like(stds), stds)
        return encoder.get_compressed().tobytes()

    @staticmethod
    def decompress(data: bytes, scales: np.ndarray) -> np.ndarray:
        if len(data) % 4:
            raise EntropyCoderError("latent string length is not a multiple of 4 bytes")
        stds = scale_table()[scale_indexes(scales.ravel())]
        model = constriction.stream.model.QuantizedGaussian(-Y_SYMBOL_RANGE, Y_SYMBOL_RANGE)
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
        try:
            symbols = decoder.decode(model, np.zeros_like(stds), stds)
        except Exception as exc:
            raise EntropyCoderError(f"latent string is corrupt ({exc})") from exc
        return symbols.reshape(scales.shape).astype(np.int32)

    @staticmethod
    def estimate_bits(symbols: np.ndarray, scales: np.ndarray) -> float:
        """Bits the snapped models assign to these symbols (what the coder should produce)."""
        from scipy.stats import norm

        stds = scale_table()[scale_indexes(scales.ravel())]
        v = np.abs(symbols.ravel().astype(np.float64))
        p = norm.cdf((0.5 - v) / stds) - norm.cdf((-0.5 - v) / stds)
        return float(-np.log2(np.maximum(p, LIKELIHOOD_BOUND)).sum())
