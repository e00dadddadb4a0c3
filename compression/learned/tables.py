"""Coding tables: everything besides g_s that the decoder needs, as integers.

They are built once, when weights are exported (`build_tables`), saved beside the weights
(`<model>.tables.npz`), covered by the weights digest, and loaded as data: a decoder never
recomputes them from floats, so a file decodes the same on any machine, with any library
version or backend. They hold

* the integer decoder-side networks (see `integer.py`): h_s, the checkerboard context
  convolution and the two entropy-parameter layers;
* `scale_thresholds`: for each latent channel, the integer network outputs at which the
  Gaussian's scale moves to the next entry of the 64-entry scale table;
* `mean_bits` F: means are integers in units of 2^-F, so ŷ = symbol + mean is exact;
* the quantised probability tables the range coder consumes: per hyper-latent channel (the
  factorised prior) and per scale-table entry (the Gaussian conditional), integers summing to
  2^PMF_PRECISION, every symbol at least 1.

Checkerboard context (He et al., "Checkerboard context model for efficient learned image
compression", CVPR 2021): latents at anchor positions ((row + column) even) are coded first
from the hyperprior alone; the rest are coded from the hyperprior and a 5×5 convolution over the
decoded anchors. Two passes, any image size, no serial scan.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .coding import PMF_PRECISION, SCALE_LEVELS, SCALE_MAX, SCALE_MIN, Y_SYMBOL_RANGE, pad
from .integer import ACT_MAX, IntLayer, activation_scale, quantize_layer

TABLES_FORMAT = 1
MAX_MEAN_BITS = 12


class TablesError(ValueError):
    """Coding tables are missing, of another format, or do not fit the model."""


def scale_table() -> np.ndarray:
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def scale_indexes(scales: np.ndarray) -> np.ndarray:
    """Nearest table entry in the log domain (export time only: decoding uses the thresholds)."""
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    idx = np.rint((np.log(np.maximum(scales, SCALE_MIN)) - math.log(SCALE_MIN)) / step)
    return np.clip(idx, 0, SCALE_LEVELS - 1).astype(np.int64)


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Float probabilities (..., n) -> int64 counts summing to 2^PMF_PRECISION, each ≥ 1."""
    pmf = np.maximum(np.asarray(pmf, np.float64), 0)
    pmf = pmf / pmf.sum(axis=-1, keepdims=True)
    n = pmf.shape[-1]
    total = 1 << PMF_PRECISION
    counts = np.floor(pmf * (total - n)).astype(np.int64) + 1
    short = total - counts.sum(axis=-1)  # ≥ 0: hand it to the most likely symbols
    flat_counts, flat_short = counts.reshape(-1, n), short.reshape(-1)
    order = np.argsort(-pmf.reshape(-1, n), axis=-1, kind="stable")
    for row, deficit in enumerate(flat_short):
        flat_counts[row, order[row, : int(deficit) % n]] += 1
        flat_counts[row] += int(deficit) // n
    return flat_counts.reshape(counts.shape)


@dataclass(frozen=True)
class CodingTables:
    hyper: tuple[IntLayer, ...]  # h_s: z symbols -> hyper parameters (2M channels)
    context: IntLayer  # anchors' ŷ (units of 2^-F) -> context features
    params: tuple[IntLayer, IntLayer]  # [hyper, context] -> correction added to hyper
    mean_bits: int
    scale_thresholds: np.ndarray  # (M, SCALE_LEVELS − 1) int64
    z_pmf: np.ndarray  # (N, 2·z_half + 1) int64
    z_half: int
    y_pmf: np.ndarray  # (SCALE_LEVELS, 2·Y_SYMBOL_RANGE + 1) int64

    @property
    def latent_channels(self) -> int:
        return self.scale_thresholds.shape[0]

    # --- the integer probability model ----------------------------------------------------
    def hyper_params(self, z_int: np.ndarray) -> np.ndarray:
        """z symbols (h, w, N) -> (4h, 4w, 2M) int16 (see IntLayer: ±ACT_MAX fits)."""
        h = np.asarray(z_int, np.int64)
        for layer in self.hyper:
            h = layer(h)
        return h

    def params_at(self, hyper: np.ndarray, ctx: np.ndarray | None) -> np.ndarray:
        """hyper + the entropy-parameter network's correction (same scales) -> int16. ctx None:
        a zero context (the anchors), whose products the first layer then leaves out (exact
        zeros: the same integers, see integer.correlate)."""
        if ctx is None:
            hidden = self._params0_hyper(hyper)
        else:
            hidden = self.params[0](np.concatenate([hyper, ctx], axis=-1))
        total = hyper.astype(np.int32) + self.params[1](hidden)  # two int16 values: int32 holds the sum
        return np.clip(total, -ACT_MAX, ACT_MAX).astype(np.int16)

    @functools.cached_property
    def _params0_hyper(self) -> IntLayer:
        """params[0] with its kernel cut to the hyper channels (the input's first ones)."""
        layer = self.params[0]
        return dataclasses.replace(layer, kernel=layer.kernel[:, :, : layer.kernel.shape[2] - self.context.kernel.shape[-1]])

    def context_features(self, y_hat_fx: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """The context convolution over the anchors alone (the others are zero)."""
        return self.context(np.where(anchors[..., None], y_hat_fx, 0))

    def context_at(self, y_hat_fx: np.ndarray, anchors: np.ndarray, points: np.ndarray) -> np.ndarray:
        """`context_features(y_hat_fx, anchors)` at the non-anchor `points` ((n, 2)) only. There a
        kernel tap (a, b) meets an anchor only when a + b is odd (the kernel is centred on a
        non-anchor, whose row + column is odd): the other taps meet only the zeros put in place
        of the non-anchors, so leaving them out gives the same integers, with a quarter of the
        work (half the taps, half the positions)."""
        kh, kw = self.context.kernel.shape[:2]
        taps = (np.add.outer(np.arange(kh), np.arange(kw)) % 2) == 1
        return self.context.at(np.where(anchors[..., None], y_hat_fx, 0), points, taps)

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (means in units of 2^-F, scale-table indexes as uint8: SCALE_LEVELS ≤ 256)."""
        m = self.latent_channels
        means, raw = params[..., :m], params[..., m:]
        idx = np.empty(raw.shape, np.uint8)
        for c in range(m):
            idx[..., c] = np.searchsorted(self.scale_thresholds[c], raw[..., c], side="right")
        return means, idx

    # --- files ------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "format": np.array([TABLES_FORMAT, self.mean_bits, self.z_half, len(self.hyper)], np.int64),
            "scale_thresholds": self.scale_thresholds,
            "z_pmf": self.z_pmf,
            "y_pmf": self.y_pmf,
        }
        for i, layer in enumerate(self.hyper):
            out.update(layer.arrays(f"hyper{i}"))
        out.update(self.context.arrays("context"))
        for i, layer in enumerate(self.params):
            out.update(layer.arrays(f"params{i}"))
        return out

    def digest_update(self, h) -> None:
        for key, value in sorted(self.arrays().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(value, dtype="<i8").tobytes())

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays())
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "CodingTables":
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise TablesError(f"coding tables {str(path)!r} not found; export the weights with "
                              "`python manage.py train_codec --export` to make them") from None
        except (OSError, ValueError) as exc:
            raise TablesError(f"coding tables {str(path)!r} are unreadable ({exc})") from exc
        try:
            fmt, mean_bits, z_half, n_hyper = (int(v) for v in arrays["format"])
            if fmt != TABLES_FORMAT:
                raise TablesError(f"coding tables format {fmt} (this build reads {TABLES_FORMAT})")
            return cls(
                hyper=tuple(IntLayer.from_arrays(arrays, f"hyper{i}") for i in range(n_hyper)),
                context=IntLayer.from_arrays(arrays, "context"),
                params=(IntLayer.from_arrays(arrays, "params0"), IntLayer.from_arrays(arrays, "params1")),
                mean_bits=mean_bits,
                scale_thresholds=np.asarray(arrays["scale_thresholds"], np.int64),
                z_pmf=np.asarray(arrays["z_pmf"], np.int64),
                z_half=z_half,
                y_pmf=np.asarray(arrays["y_pmf"], np.int64),
            )
        except KeyError as exc:
            raise TablesError(f"coding tables {str(path)!r} lack {exc}") from None


def tables_path(weights_path: str | Path) -> Path:
    """`x.weights.h5` -> `x.tables.npz`."""
    p = Path(weights_path)
    stem = p.name[: -len(".weights.h5")] if p.name.endswith(".weights.h5") else p.stem
    return p.with_name(f"{stem}.tables.npz")


def digest(tables: CodingTables, float_weights) -> bytes:
    h = hashlib.sha256()
    for w in float_weights:
        h.update(np.ascontiguousarray(np.asarray(w, np.float32)).tobytes())
    tables.digest_update(h)
    return h.digest()


# --- export time: from a trained float model to integer tables ---------------------------------
def _gaussian_pmf_table() -> np.ndarray:
    from scipy.stats import norm

    grid = np.arange(-Y_SYMBOL_RANGE, Y_SYMBOL_RANGE + 1, dtype=np.float64)
    sigma = scale_table()[:, None]
    return norm.cdf((grid + 0.5) / sigma) - norm.cdf((grid - 0.5) / sigma)


def scale_index_thresholds(raw_scale: np.ndarray) -> np.ndarray:
    """For each channel whose integer output q means a raw value q·s: the smallest q at which
    the snapped scale index reaches 1, 2, … 63 (ACT_MAX + 1 where it never does)."""
    q = np.arange(-ACT_MAX, ACT_MAX + 1, dtype=np.int64)
    out = np.full((raw_scale.size, SCALE_LEVELS - 1), ACT_MAX + 1, np.int64)
    for c, s in enumerate(raw_scale):
        idx = scale_indexes(np.logaddexp(0.0, q * s) + SCALE_MIN)  # softplus + floor, in float64
        first = np.searchsorted(idx, np.arange(1, SCALE_LEVELS), side="left")
        out[c] = np.where(first < q.size, q[np.minimum(first, q.size - 1)], ACT_MAX + 1)
    return out


def _calibrate(model, images) -> dict[str, np.ndarray]:
    """Per-channel max |activation| of every decoder-side layer, over `images` at every level."""
    from keras import ops

    peaks: dict[str, np.ndarray] = {}

    def record(name, value):
        v = np.abs(ops.convert_to_numpy(value)).reshape(-1, np.shape(value)[-1]).max(axis=0)
        peaks[name] = np.maximum(peaks.get(name, 0), v)

    _, half = model.entropy_bottleneck.pmf_table()
    for image in images:
        y0 = model.analysis(pad(np.asarray(image)))
        for level in range(model.num_levels):
            y = y0 * model.gains_for_quality(level)[0]
            z = np.clip(np.rint(ops.convert_to_numpy(model.h_a(y[None]))), -half, half)
            h = z.astype(np.float32)
            for i, layer in enumerate(model.h_s.layers):
                h = layer(h)
                record(f"hyper{i}", h)
            model.prior(h, y[None], record=record)
    return peaks


def build_tables(model, images) -> CodingTables:
    """Calibrate on `images` (validation photos; a few synthetic ones in tests) and quantise."""
    from keras import ops

    m = model.M
    peaks = _calibrate(model, images)
    z_pmf, z_half = model.entropy_bottleneck.pmf_table()
    max_mean = float(peaks["params"][:m].max())
    mean_bits = int(np.clip(np.floor(np.log2(ACT_MAX / (2.0 * max(max_mean, 1e-3)))), 0, MAX_MEAN_BITS))
    mean_scale = np.full(m, 2.0**-mean_bits)

    def weights(layer):
        kernel, bias = (ops.convert_to_numpy(w) for w in layer.weights)
        return kernel, bias

    hyper, in_scale, in_bound = [], np.ones(model.N), z_half
    for i, layer in enumerate(model.h_s.layers):
        last = i == len(model.h_s.layers) - 1
        out_scale = (np.concatenate([mean_scale, activation_scale(peaks["params"][m:])]) if last
                     else activation_scale(peaks[f"hyper{i}"]))
        kind = "conv" if type(layer).__name__ == "Conv2D" else "deconv2"
        hyper.append(quantize_layer(*weights(layer), kind=kind, leaky=not last, in_scale=in_scale,
                                    out_scale=out_scale, in_bound=in_bound))
        in_scale, in_bound = out_scale, ACT_MAX
    params_scale = in_scale
    ctx_scale = activation_scale(peaks["context"])
    context = quantize_layer(*weights(model.context_conv), kind="conv", leaky=False, in_scale=mean_scale,
                             out_scale=ctx_scale, in_bound=Y_SYMBOL_RANGE * 2**mean_bits + ACT_MAX)
    hidden_scale = activation_scale(peaks["params_hidden"])
    params = (
        quantize_layer(*weights(model.ep0), kind="conv", leaky=True,
                       in_scale=np.concatenate([params_scale, ctx_scale]), out_scale=hidden_scale),
        quantize_layer(*weights(model.ep1), kind="conv", leaky=False, in_scale=hidden_scale,
                       out_scale=params_scale),
    )
    return CodingTables(
        hyper=tuple(hyper), context=context, params=params, mean_bits=mean_bits,
        scale_thresholds=scale_index_thresholds(params_scale[m:]),
        z_pmf=quantize_pmf(z_pmf), z_half=z_half, y_pmf=quantize_pmf(_gaussian_pmf_table()),
    )
