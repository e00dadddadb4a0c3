"""The learned codec's max effort: refine one photo's latents on its own rate–distortion loss.

The analysis transform g_a is amortised inference: one network guesses good latents for every
photo, and the guess leaves a gap (the "amortisation gap"). Stochastic Gumbel annealing (J. Yang,
R. Bamler, S. Mandt, "Improving inference for neural image compression", NeurIPS 2020) closes
part of it per photo: starting from y = g_a(x)·gain, gradient descent (Adam) lowers

    bits(ŷ, ẑ) / pixels  +  λ · 255² · MSE(g_s(ŷ · igain), x)

where ŷ is an annealed *soft* rounding of y around its prior means: each element is drawn
between floor and ceil by a two-class Gumbel-softmax whose logits favour the nearer integer and
whose temperature falls over the steps, so early steps see a smooth loss and late ones nearly
the hard rounding the coder will apply. z = h_a(y) follows y and is rounded with a
straight-through gradient, as in training.

Nothing else changes: no new weights, the bitstream and the decoder stay as they are. The
refined y enters `MSCAE.compress` where g_a(x) would (as `analysis`, before the gain), so the
normal integer prior codes it and the normal decoder reads the file. `encode_refined` keeps
the refined file only when its real loss (file bits, decoded pixels) beats the default file's,
so max effort is never worse than default effort on the same photo. `encode_effort` is what the
codec adapter and the CLI call: the default file without steps, max effort with them.

Cost: every step runs h_a, h_s, the prior and g_s forward and backward on the whole photo, so
time and memory grow with the pixels; photos above `MAX_PIXELS` are coded at default effort (as
they are under a backend other than TensorFlow: the loop uses a GradientTape).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

import keras
from keras import ops

from .coder import decode
from .coding import pad
from .entropy_models import gaussian_likelihood
from .ops import anchor_mask, ste_round

# Below the paper's 5e-3 (2000 steps on a GPU): in a few hundred steps, larger steps let the early,
# nearly uniform soft rounding push latents off what the final hard rounding wants (the trials:
# docs/benchmarks/max_effort.md).
LEARNING_RATE = 0.0025
TAU_START = 0.5  # the paper's upper bound: at 0.5 the soft rounding is close to uniform noise
TAU_END = 0.05  # at the last step: nearly hard rounding
# The whole photo goes through the float graph with gradients (no tiling), so time and memory grow
# with its pixels; above this a photo would take too long and too much memory
# (docs/benchmarks/max_effort.md has the figures).
MAX_PIXELS = 1_000_000
_EPS = 1e-5


def level_lambda(model, knob: float) -> float:
    """The λ of the quality knob: interpolated geometrically between the trained levels, as the
    gains are (`MSCAE.gains_for_quality`)."""
    lambdas = np.log(np.asarray(model.lambdas, np.float64))
    q = float(np.clip(knob, 0, len(lambdas) - 1))
    lo = int(math.floor(q))
    hi = min(lo + 1, len(lambdas) - 1)
    return float(np.exp((1 - (q - lo)) * lambdas[lo] + (q - lo) * lambdas[hi]))


def temperature(step: int, steps: int) -> float:
    """Exponential decay from TAU_START (first step) to TAU_END (last step)."""
    if steps <= 1:
        return TAU_END
    return float(TAU_START * (TAU_END / TAU_START) ** (step / (steps - 1)))


def sga_round(v, tau, seed):
    """A draw of the annealed soft rounding of v (Yang et al. 2020, eq. 9): floor(v) + w, where w
    in (0, 1) is the ceil weight of a two-class Gumbel-softmax at temperature tau whose logits
    −atanh(distance)/tau favour the nearer integer. Differentiable in v."""
    floor = ops.stop_gradient(ops.floor(v))
    logit_floor = -ops.arctanh(ops.clip(v - floor, -1 + _EPS, 1 - _EPS)) / tau
    logit_ceil = -ops.arctanh(ops.clip(floor + 1 - v, -1 + _EPS, 1 - _EPS)) / tau
    # softmax over two classes of (logit + Gumbel)/tau: the difference of two Gumbel draws is
    # a logistic draw, so the ceil weight is one sigmoid.
    u = keras.random.uniform(ops.shape(v), _EPS, 1 - _EPS, seed=seed)
    logistic = ops.log(u) - ops.log1p(-u)
    return floor + ops.sigmoid((logit_ceil - logit_floor + logistic) / tau)


def hard_round(v):
    """The coder's rounding, with a straight-through gradient (a loss that equals MSCAE.call's
    evaluation loss; see the tests)."""
    return ste_round(v)


def rd_loss(model, y, x, igain, lam: float, quantise, pixels: tuple[int, int]):
    """The float model's loss of latents y (1, h, w, M), after the gain, for image x (1, H, W, 3)
    in [0, 1]. `quantise(v)` rounds latents relative to their means (`sga_round` while refining,
    `hard_round` to evaluate). The rate counts y and z over the real pixels, the distortion only
    the photo's own `pixels` = (rows, columns), not the padding. -> (loss, bpp, mse) scalars.

    The prior is MSCAE.prior with the anchors' rounding made pluggable: the non-anchors' context
    sees the anchors' soft-rounded values, as their decoder-side context sees the rounded ones."""
    z = model.h_a(y)
    z_hat = ste_round(z)
    z_lik = model.entropy_bottleneck(z_hat)
    hyper = model.h_s(z_hat)

    anchors = anchor_mask(y)
    hidden_a = model.ep0(ops.concatenate([hyper, ops.zeros_like(y)], axis=-1))
    params_a = hyper + model.ep1(hidden_a)
    means_a, _ = ops.split(params_a, 2, axis=-1)
    offsets_a = quantise(y - means_a)
    ctx = model.context_conv((means_a + offsets_a) * anchors)
    hidden_n = model.ep0(ops.concatenate([hyper, ctx], axis=-1))
    params_n = hyper + model.ep1(hidden_n)
    means, scales = model.split_params(anchors * params_a + (1.0 - anchors) * params_n)
    offsets = anchors * offsets_a + (1.0 - anchors) * quantise(y - means)
    y_lik = gaussian_likelihood(offsets, scales)
    x_hat = ops.cast(model.g_s((means + offsets) * igain), "float32")

    rows, cols = pixels
    bits = -(ops.sum(ops.log(y_lik)) + ops.sum(ops.log(z_lik))) / math.log(2)
    bpp = bits / float(rows * cols)
    mse = ops.mean(ops.square(x[:, :rows, :cols] - x_hat[:, :rows, :cols]))
    return bpp + lam * (255.0**2) * mse, bpp, mse


@dataclass
class Refinement:
    analysis: np.ndarray  # refined latents before the gain: what MSCAE.compress takes as `analysis`
    losses: list[float] = field(default_factory=list)  # the soft loss at each step
    start_loss: float = 0.0  # the hard-rounded loss before and after refining
    end_loss: float = 0.0
    seconds: float = 0.0
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step count -> analysis then


def refine(model, padded: np.ndarray, analysis: np.ndarray, knob: float, steps: int, *,
           pixels: tuple[int, int] | None = None, learning_rate: float | None = None,
           seed: int = 2020, snapshot_steps=()) -> Refinement:
    """SGA on one photo. padded: (H, W, 3) uint8, a multiple of DOWNSAMPLING; analysis: g_a of it
    (H/16, W/16, M) before the gain; knob: the model's continuous quality. -> the refined
    analysis (before the gain) and the loss trace; `snapshot_steps`: step counts after which the
    analysis is also kept (benchmarks: the gain of shorter runs, from one long one). Needs the
    TensorFlow backend (GradientTape)."""
    import tensorflow as tf

    started = time.perf_counter()
    gain, igain = model.gains_for_quality(knob)
    lam = level_lambda(model, knob)
    pixels = pixels or padded.shape[:2]
    x = tf.constant(padded[None].astype(np.float32) / 255.0)
    igain_t = tf.constant(igain[None, None, None])
    y = tf.Variable((analysis * gain)[None].astype(np.float32))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate or LEARNING_RATE)
    seed_generator = keras.random.SeedGenerator(seed)

    def hard_loss():
        return float(rd_loss(model, y, x, igain_t, lam, hard_round, pixels)[0])

    result = Refinement(analysis=analysis)
    result.start_loss = hard_loss()

    @tf.function(reduce_retracing=True)
    def step(tau):
        with tf.GradientTape() as tape:
            loss, _, _ = rd_loss(model, y, x, igain_t, lam, lambda v: sga_round(v, tau, seed_generator), pixels)
        optimizer.apply_gradients([(tape.gradient(loss, y), y)])
        return loss

    for i in range(steps):
        result.losses.append(float(step(tf.constant(temperature(i, steps), tf.float32))))
        if i + 1 in snapshot_steps:
            result.snapshots[i + 1] = (y.numpy()[0] / gain).astype(np.float32)
    result.end_loss = hard_loss()
    result.analysis = (y.numpy()[0] / gain).astype(np.float32)
    result.seconds = time.perf_counter() - started
    return result


def real_loss(loaded, data: bytes, image: np.ndarray, knob: float) -> float:
    """What refinement aims to lower, measured on a coded file: its bits per pixel plus
    λ · 255² · MSE of its decoded pixels (8-bit, so MSE in units of 255²)."""
    decoded = decode(data, loaded).astype(np.float64)
    mse = float(np.mean(np.square(decoded - image.astype(np.float64)))) / 255.0**2
    bpp = len(data) * 8 / (image.shape[0] * image.shape[1])
    return bpp + level_lambda(loaded.model, knob) * 255.0**2 * mse


def encode_refined(session, quality: float, steps: int, **kwargs) -> tuple[bytes, dict]:
    """Max effort for one EncoderSession at one quality: the default file and the refined one,
    and the one of lower real loss kept. -> (file, figures: the losses, whether the refined file
    was kept, seconds)."""
    loaded = session.loaded
    knob = loaded.knob(quality)
    default = session.encode(quality)
    h, w = session.array.shape[:2]
    if steps <= 0 or h * w > MAX_PIXELS or keras.backend.backend() != "tensorflow":
        reason = "no steps" if steps <= 0 else "too large" if h * w > MAX_PIXELS else "needs TensorFlow"
        return default, {"refined": False, "reason": reason}
    refined = refine(loaded.model, pad(session.array), session.analysis(), knob, steps, pixels=(h, w), **kwargs)
    data = session.encode(quality, analysis=refined.analysis)
    default_loss = real_loss(loaded, default, session.array, knob)
    refined_loss = real_loss(loaded, data, session.array, knob)
    figures = {"refined": refined_loss < default_loss, "default_loss": default_loss,
               "refined_loss": refined_loss, "seconds": refined.seconds, "steps": steps,
               "float_loss": (refined.start_loss, refined.end_loss)}
    return (data if refined_loss < default_loss else default), figures


def encode_effort(session, quality: float, refine_steps: int = 0) -> bytes:
    """A session's file at `quality`: with `refine_steps` > 0 max effort (`encode_refined`), else
    the default file. Either decodes with the normal decoder."""
    if refine_steps <= 0:
        return session.encode(quality)
    return encode_refined(session, quality, refine_steps)[0]
