"""Exact integer networks for everything that decides a symbol's probability.

A range decoder recovers the right symbols only if it sees *exactly* the probability model the
encoder used. Float convolutions differ in their last bits between CPU kernels (oneDNN or
Eigen), thread counts, library versions and backends, so a hyperprior computed in floats makes
files that only decode where they were made. Following Ballé, Johnston & Minnen, "Integer
networks for data compression with latent-variable models" (ICLR 2019), the decoder-side
networks (h_s and the context model's parameter networks) run here in integer arithmetic after
training, one implementation for encoder and decoder:

* weights are quantised per output channel to WEIGHT_BITS-bit integers (scales folded in);
* activations are integers of at most ACT_BITS bits (clipped), each tensor with a fixed
  per-channel scale calibrated on validation photos when the weights are exported;
* a layer is ``v = (acc · m + B + 2^(S−1)) >> S`` on int64, where ``acc`` is the integer
  convolution, ``m``/``B`` the integer rescale and bias, ``S`` the layer's shift; then the
  integer leaky ReLU ``v if v ≥ 0 else round(v / 5)`` (slope 0.2, as Keras's) and the clip to
  ±ACT_MAX, so activations are stored as int16 (int64 lives only in one chunk of rows at a time).

Bounds (checked when a layer is quantised, so nothing can overflow at run time): every input
is at most ``in_bound`` in magnitude, so ``|acc| ≤ in_bound · Σ|kernel|`` per output channel; that
bound is kept below 2^53, which makes the convolution exact when computed as a float64 matrix
product (every product and partial sum is an integer float64 represents exactly, whatever the
BLAS, its blocking or summation order), and ``|acc · m| + |B| + 2^S`` below 2^62, so the int64
rescale cannot overflow. Nothing here depends on TensorFlow or JAX: numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ACT_BITS = 16
ACT_MAX = 2 ** (ACT_BITS - 1) - 1
WEIGHT_BITS = 12
WEIGHT_MAX = 2 ** (WEIGHT_BITS - 1) - 1
FLOAT64_EXACT = 2**53
INT64_SAFE = 2**62
MAX_SHIFT = 40
LEAKY_DIVISOR = 5  # Keras's leaky_relu slope 0.2 = 1/5
CHUNK_ELEMENTS = 1 << 21  # im2col entries per matrix product: ~16 MB of float64, whatever the image


class IntegerOverflowError(ValueError):
    """A layer cannot be quantised within the stated bounds."""


def leaky_relu_int(v: np.ndarray) -> np.ndarray:
    """Integer leaky ReLU: v for v ≥ 0, else v / 5 rounded half away from zero."""
    return np.where(v >= 0, v, -((-v + LEAKY_DIVISOR // 2) // LEAKY_DIVISOR))


# leaky_relu_int(v) clipped to ±ACT_MAX, as int16, for every v from LEAKY_LOW to ACT_MAX. At and
# below LEAKY_LOW the clipped result is −ACT_MAX (leaky_relu_int is monotone), above ACT_MAX it is
# ACT_MAX: an accumulator clipped to that range first gives the same result from the table.
LEAKY_LOW = -(LEAKY_DIVISOR * ACT_MAX + LEAKY_DIVISOR // 2)
_LEAKY_TABLE = np.clip(leaky_relu_int(np.arange(LEAKY_LOW, ACT_MAX + 1, dtype=np.int64)),
                       -ACT_MAX, ACT_MAX).astype(np.int16)
assert leaky_relu_int(np.int64(LEAKY_LOW)) <= -ACT_MAX


def correlate(x: np.ndarray, kernel: np.ndarray, pad: tuple[int, int], finish=None, dtype=np.int64) -> np.ndarray:
    """'Valid' cross-correlation of x (H, W, C) integers, padded by pad=(before, after) with
    zeros on both spatial axes (or ((top, bottom), (left, right))), with kernel (kh, kw, C, O)
    int64 -> (H', W', O), exact.

    It runs in row chunks of about CHUNK_ELEMENTS im2col entries; `finish` maps each chunk's
    int64 accumulator to the stored values (of `dtype`), so neither a float64 copy of the input
    nor a whole-image accumulator ever exists: memory stays the input and output plus one chunk."""
    kh, kw, c, o = kernel.shape
    # pad: (before, after) on both axes, or ((top, bottom), (left, right)).
    (top, bottom), (left, right) = (pad, pad) if np.ndim(pad) == 1 else pad
    h, w = x.shape[0] + top + bottom - kh + 1, x.shape[1] + left + right - kw + 1
    k = kernel.reshape(kh * kw * c, o).astype(np.float64)
    out = np.empty((h, w, o), dtype)
    rows = max(1, CHUNK_ELEMENTS // max(1, w * kh * kw * c))
    if kh == kw == 1 and top == bottom == left == right == 0:
        # A 1×1 convolution is a matrix product of the input's pixels as they are: no padded
        # slab, no windows (the same products and sums as below).
        flat, flat_out = x.reshape(-1, c), out.reshape(-1, o)
        step = rows * w
        for i in range(0, len(flat), step):
            acc = (flat[i : i + step].astype(np.float64) @ k).astype(np.int64)
            flat_out[i : i + step] = acc if finish is None else finish(acc)
        return out
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        # The chunk's rows of the zero-padded input, padded here: no padded copy of x.
        slab = np.zeros((r1 - r0 + kh - 1, x.shape[1] + left + right, c), np.float64)
        x0, x1 = max(0, r0 - top), min(x.shape[0], r1 + kh - 1 - top)
        slab[x0 + top - r0 : x1 + top - r0, left : left + x.shape[1]] = x[x0:x1]
        win = sliding_window_view(slab, (kh, kw), axis=(0, 1))  # (r, w, C, kh, kw)
        cols = win.transpose(0, 1, 3, 4, 2).reshape((r1 - r0) * w, kh * kw * c)
        acc = (cols @ k).astype(np.int64)
        del slab, win, cols
        out[r0:r1] = (acc if finish is None else finish(acc)).reshape(r1 - r0, w, o)
    return out


def _deconv2_phases(kh: int, pad_top: int):
    """The stride-2 transposed convolution as four small correlations ("polyphase"): the
    zero-inserted input of `IntLayer.accumulate` has non-zeros only at even rows and columns, so
    output row i = 2u + p meets them only through the kernel rows a ≡ pad_top − p (mod 2), at input
    row u + t − d for the t-th such row. -> for p in (0, 1): (first kernel row a0, d, kernel rows
    kt); the phase's correlation pads x by (d, kt − 1 − d), which keeps it at the input's size."""
    phases = []
    for p in (0, 1):
        a0 = (pad_top - p) % 2
        d, kt = (pad_top - p - a0) // 2, len(range(a0, kh, 2))
        if not 0 <= d <= kt - 1:
            raise ValueError(f"no polyphase form for a {kh}-tap kernel padded {pad_top} before")
        phases.append((a0, d, kt))
    return phases


def _correlate_at(x: np.ndarray, points: np.ndarray, kernel: np.ndarray, taps: np.ndarray, pad: tuple[int, int],
                  finish=None, dtype=np.int64) -> np.ndarray:
    """`correlate(x, kernel, pad, ...)` at the output positions `points` ((n, 2) rows and columns)
    only, with only the kernel taps where `taps` (kh, kw) is True: the caller guarantees that the
    other taps meet nothing but zeros at those points. -> (n, O). Exact for the same reason as
    `correlate`: the products left out are exact zeros, and every partial sum of the rest is an
    integer below 2^53, so the float64 sum is the same integer in any order."""
    kh, kw, c, o = kernel.shape
    top, left = pad[0], pad[0]
    offsets = np.argwhere(taps)  # (taps, 2), kernel rows and columns
    k = kernel[offsets[:, 0], offsets[:, 1]].reshape(len(offsets) * c, o).astype(np.float64)
    # Zero-padded so that every tap of every point is in range.
    padded = np.zeros((x.shape[0] + kh - 1, x.shape[1] + kw - 1, c), np.float64)
    padded[top : top + x.shape[0], left : left + x.shape[1]] = x
    out = np.empty((len(points), o), dtype)
    step = max(1, CHUNK_ELEMENTS // max(1, len(offsets) * c))
    for i in range(0, len(points), step):
        pts = points[i : i + step]
        rows = pts[:, 0, None] + offsets[None, :, 0]  # (n, taps) rows of `padded`
        cols = pts[:, 1, None] + offsets[None, :, 1]
        acc = (padded[rows, cols].reshape(len(pts), -1) @ k).astype(np.int64)
        out[i : i + len(pts)] = acc if finish is None else finish(acc)
    return out


@dataclass(frozen=True)
class IntLayer:
    """One integer convolution layer. kind: "conv" (stride 1, 'same') or "deconv2" (Keras
    Conv2DTranspose, stride 2, 'same'); `kernel` is stored in correlation form (kh, kw, C, O)."""

    kind: str
    kernel: np.ndarray
    multiplier: np.ndarray
    bias: np.ndarray
    shift: int
    leaky: bool

    def accumulate(self, x: np.ndarray, finish=None, dtype=np.int64) -> np.ndarray:
        """The integer convolution; `finish` and `dtype` as in `correlate`."""
        kh = self.kernel.shape[0]
        if self.kind == "conv":
            return correlate(x, self.kernel, ((kh - 1) // 2, kh // 2), finish, dtype)
        if self.kind == "deconv2":
            # TF's SAME transposed convolution = zero-insertion, then a correlation with the
            # flipped kernel padded (k−2, 1) for k = 5 (checked against Keras in the tests).
            # Computed as its four phases (`_deconv2_phases`): the same non-zero products, a
            # quarter of the work; the three quarters left out are products with the inserted
            # zeros, so every output is the same exact integer (see `correlate`).
            kw = self.kernel.shape[1]
            out = np.empty((2 * x.shape[0], 2 * x.shape[1], self.kernel.shape[-1]), dtype)
            for p, (a0, d, kt) in enumerate(_deconv2_phases(kh, kh - 2)):
                for q, (b0, e, ks) in enumerate(_deconv2_phases(kw, kh - 2)):
                    sub = np.ascontiguousarray(self.kernel[a0::2, b0::2])
                    out[p::2, q::2] = correlate(x, sub, ((d, kt - 1 - d), (e, ks - 1 - e)), finish, dtype)
            return out
        raise ValueError(f"unknown integer layer kind {self.kind!r}")

    def at(self, x: np.ndarray, points: np.ndarray, taps: np.ndarray) -> np.ndarray:
        """A "conv" layer's int16 output at `points` only ((n, 2) positions of x's grid), from the
        kernel taps where `taps` is True; every other tap must meet only zeros there (see
        `_correlate_at`). -> (n, O), the same values as `self(x)[points[:, 0], points[:, 1]]`."""
        if self.kind != "conv":
            raise ValueError("IntLayer.at computes stride-1 convolutions only")
        kh = self.kernel.shape[0]
        x = np.asarray(x)
        return _correlate_at(x, points, self.kernel, taps, ((kh - 1) // 2, kh // 2), self.rescale, np.int16)

    def rescale(self, acc: np.ndarray) -> np.ndarray:
        """int64 accumulator -> the layer's output as int16, computed in place (the bounds above
        rule out overflow)."""
        acc *= self.multiplier
        acc += self.bias + (1 << (self.shift - 1))
        acc >>= self.shift
        if self.leaky:
            # The leaky ReLU then the clip to ±ACT_MAX, as one look-up (see _LEAKY_TABLE): the
            # same values as leaky_relu_int and np.clip, with no int64 division.
            np.clip(acc, LEAKY_LOW, ACT_MAX, out=acc)
            acc -= LEAKY_LOW
            return _LEAKY_TABLE[acc]
        return np.clip(acc, -ACT_MAX, ACT_MAX, out=acc).astype(np.int16)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """-> int16: every output is clipped to ±ACT_MAX, which int16 holds exactly, so a
        whole-image activation takes a quarter of int64's memory."""
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            x = x.astype(np.int64)
        return self.accumulate(x, self.rescale, np.int16)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.kernel": self.kernel.astype(np.int16),
            f"{prefix}.multiplier": self.multiplier,
            f"{prefix}.bias": self.bias,
            f"{prefix}.meta": np.array([self.shift, int(self.leaky), 0 if self.kind == "conv" else 1], np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "IntLayer":
        shift, leaky, kind = (int(v) for v in arrays[f"{prefix}.meta"])
        return cls(
            kind="conv" if kind == 0 else "deconv2",
            kernel=np.asarray(arrays[f"{prefix}.kernel"], np.int64),
            multiplier=np.asarray(arrays[f"{prefix}.multiplier"], np.int64),
            bias=np.asarray(arrays[f"{prefix}.bias"], np.int64),
            shift=shift,
            leaky=bool(leaky),
        )


def correlation_kernel(kernel: np.ndarray, kind: str) -> np.ndarray:
    """A Keras kernel -> correlation form (kh, kw, C_in, C_out). Conv2D kernels already are;
    Conv2DTranspose kernels are (kh, kw, C_out, C_in) and act flipped."""
    if kind == "conv":
        return kernel
    return np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))


def quantize_layer(kernel: np.ndarray, bias: np.ndarray, *, kind: str, leaky: bool,
                   in_scale: np.ndarray, out_scale: np.ndarray, in_bound: int = ACT_MAX) -> IntLayer:
    """Float layer (Keras kernel and bias) whose input is ``x_int · in_scale`` (per input
    channel) -> IntLayer whose output ``v`` approximates the float output as ``v · out_scale``.
    Raises IntegerOverflowError when the bounds in the module docstring cannot hold."""
    k = correlation_kernel(np.asarray(kernel, np.float64), kind)
    k = k * np.asarray(in_scale, np.float64)[None, None, :, None]  # fold the input scale in
    out_scale = np.broadcast_to(np.asarray(out_scale, np.float64), (k.shape[-1],))
    w_scale = np.abs(k).reshape(-1, k.shape[-1]).max(axis=0) / WEIGHT_MAX
    w_scale = np.where(w_scale > 0, w_scale, 1.0)
    k_int = np.rint(k / w_scale).astype(np.int64)
    acc_bound = int(in_bound) * np.abs(k_int).reshape(-1, k.shape[-1]).sum(axis=0)
    if acc_bound.max() >= FLOAT64_EXACT:
        raise IntegerOverflowError(f"accumulator bound {int(acc_bound.max())} reaches 2^53")
    # A channel whose kernel is all zero (a zero-initialised layer) needs no rescale at all.
    ratio = np.where(np.abs(k_int).reshape(-1, k.shape[-1]).any(axis=0), w_scale / out_scale, 0.0)
    bias_ratio = np.asarray(bias, np.float64) / out_scale
    for shift in range(MAX_SHIFT, 0, -1):
        m, b = np.rint(ratio * 2.0**shift), np.rint(bias_ratio * 2.0**shift)
        worst = acc_bound.astype(np.float64) * np.abs(m) + np.abs(b) + 2.0**shift
        if worst.max() < INT64_SAFE:
            return IntLayer(kind, k_int, m.astype(np.int64), b.astype(np.int64), shift, leaky)
    raise IntegerOverflowError("no shift keeps the rescale below 2^62")


def activation_scale(max_abs: np.ndarray, margin: float = 2.0) -> np.ndarray:
    """Per-channel scale so that `margin` × the largest calibration value fits in ACT_BITS."""
    max_abs = np.maximum(np.asarray(max_abs, np.float64), 1e-6)
    return max_abs * margin / ACT_MAX
