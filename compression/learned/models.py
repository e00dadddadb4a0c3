"""MSCAE: a multi-stage convolutional autoencoder with a mean-scale hyperprior, a checkerboard
context model and adaptive quantisation.

References: J. Ballé, D. Minnen, S. Singh, S. J. Hwang, N. Johnston, "Variational image
compression with a scale hyperprior", ICLR 2018; D. Minnen, J. Ballé, G. Toderici, "Joint
autoregressive and hierarchical priors for learned image compression", NeurIPS 2018 (the
mean-scale hyperprior and the entropy-parameter network); D. He et al., "Checkerboard context
model for efficient learned image compression", CVPR 2021 (two-pass spatial context); J. Ballé,
N. Johnston, D. Minnen, "Integer networks for data compression with latent-variable models",
ICLR 2019 (the exact decoder-side networks, `integer.py`/`tables.py`); Z. Cui et al.,
"Asymmetric gained deep image compression with continuous rate adaptation", CVPR 2021 (the
gain units).

Data flow (N, M channels; each stage of g_a halves the resolution, so y is x/16, z is x/64)::

           ┌─────┐  y  ┌────────┐ y·g_q ┌─────┐  z   ┌───┐ ẑ  ┌──────────────────┐
      x ──►│ g_a │────►│ × gain │──┬───►│ h_a │─────►│ Q │──►─│ EntropyBottleneck│──► bits(ẑ)
           └─────┘     └────────┘  │    └─────┘      └───┘  │ └──────────────────┘
                                   │                        ▼
                                   │                     ┌─────┐  hyper
                                   │                     │ h_s │─────────┐
                                   │                     └─────┘         ▼
                                   │      anchors: μ,σ = hyper + ep(hyper, 0)
                                   │      others:  μ,σ = hyper + ep(hyper, ctx(ŷ at anchors))
                                   ▼                                     │
                                 ┌───┐ ŷ = μ + round(y−μ) ┌─────────────────────┐
                                 │ Q │───────────────────►│ GaussianConditional │──► bits(ŷ)
                                 └───┘   (anchors first)  └─────────────────────┘
                                   │ ŷ
                                   ▼
                              ┌──────────┐       ┌─────┐
                              │ × igain  │──────►│ g_s │──► x̂
                              └──────────┘       └─────┘

Training runs everything in floats. Coding runs h_s, ctx and ep as exact integer networks
(`tables.CodingTables`, made when weights are exported), so every machine decodes the same
symbols; g_a, h_a (encoder only) and g_s (pixels only, never symbols) stay float. `compress` and
`decompress` run those float transforms through `tiling` (bounded memory at any photo size) and
hand the latents to `latents`, which codes them with the integer prior.

Adaptive quantisation: one model serves K quality levels. Level k has a per-channel gain g_k
(applied before quantisation: larger gain = finer steps = more bits) and an inverse gain
applied before synthesis; all levels are trained jointly, each sample drawing a level and its
own rate–distortion trade-off λ_k. Between levels the gains are interpolated geometrically,
which gives a continuous quality knob. K is the weights' (6 or 8 of `zoo.LAMBDAS`); levels are
added at the top, their gains extrapolated from the trained ones (`levels.py`).
"""
from __future__ import annotations

import math

import numpy as np

import keras
from keras import layers, ops

from . import tiling
from .coding import DOWNSAMPLING
from .entropy_models import EntropyBottleneck, gaussian_likelihood
from .latents import BAND_ROWS, Compressed, decode_latents, encode_latents
from .layers import GDN
from .ops import anchor_mask, ste_round
from .tables import CodingTables, TablesError
from .zoo import DEFAULT_LAMBDAS


def _conv(filters, kernel, stride=1, activation=None, name=None, dtype=None, zero=False):
    init = {"kernel_initializer": "zeros"} if zero else {}
    return layers.Conv2D(
        filters, kernel, strides=stride, padding="same", activation=activation, name=name, dtype=dtype, **init
    )


@keras.saving.register_keras_serializable(package="mscae")
class LevelNormaliser(layers.Layer):
    """Running mean of each quality level's R + λ·D, which the training loss divides by.

    With an unweighted mean, the high-rate levels (about 5x the loss of the low-rate ones)
    dominate the gradient; dividing each sample by its level's running mean gives every level the
    same weight, as the multi-objective recipe of CompressAI's variable-rate model does. The
    means are state, not parameters (stop-gradient, no training), and they are updated in `call`
    so that both the TensorFlow and the JAX trainer carry the update (JAX drops assignments made
    in `compute_loss`)."""

    def __init__(self, num_levels: int, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.num_levels, self.momentum = int(num_levels), float(momentum)
        self.running_mean = self.add_weight(name="running_mean", shape=(self.num_levels,),
                                            initializer="ones", trainable=False)
        # 0 until a level is first seen: its first batch mean then replaces the placeholder 1.
        self.seen = self.add_weight(name="seen", shape=(self.num_levels,), initializer="zeros", trainable=False)

    def get_config(self):
        return {**super().get_config(), "num_levels": self.num_levels, "momentum": self.momentum}

    def call(self, rd, level, training=False):
        """rd: (B,) float, level: (B,) int -> rd / running_mean[level] (no gradient through the mean)."""
        rd = ops.cast(rd, "float32")
        running = ops.convert_to_tensor(self.running_mean)
        if training:
            onehot = ops.one_hot(level, self.num_levels, dtype="float32")  # (B, K)
            counts = ops.sum(onehot, axis=0)
            batch_mean = ops.sum(onehot * ops.stop_gradient(rd)[:, None], axis=0) / ops.maximum(counts, 1.0)
            present = counts > 0
            blended = ops.where(self.seen > 0, self.momentum * running + (1 - self.momentum) * batch_mean, batch_mean)
            running = ops.stop_gradient(ops.where(present, blended, running))
            self.running_mean.assign(running)
            self.seen.assign(ops.where(present, ops.ones_like(self.seen), self.seen))
        return rd / ops.stop_gradient(ops.take(running, level))


def _deconv(filters, kernel, stride=2, activation=None, name=None, dtype=None):
    return layers.Conv2DTranspose(
        filters, kernel, strides=stride, padding="same", activation=activation, name=name, dtype=dtype
    )


@keras.saving.register_keras_serializable(package="mscae")
class MSCAE(keras.Model):
    def __init__(self, N: int = 128, M: int = 192, lambdas=DEFAULT_LAMBDAS, transform_dtype=None,
                 normalise_levels: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.N, self.M = int(N), int(M)
        # `transform_dtype="mixed_bfloat16"` runs g_a and g_s, most of a training step, in
        # bfloat16 while training (faster where the hardware has it: see
        # docs/benchmarks/learned_codec_notes.md). The hyperprior and the entropy models stay
        # float32: the rate is a sum of logs that bfloat16's 8-bit mantissa would blur. Variables
        # are float32 either way, so the weights files are the same.
        self.transform_dtype = transform_dtype
        td = transform_dtype
        self.lambdas = tuple(float(v) for v in lambdas)
        self.num_levels = len(self.lambdas)

        self.g_a = keras.Sequential(
            [
                _conv(N, 5, 2, name="g_a0", dtype=td), GDN(name="gdn0", dtype=td),
                _conv(N, 5, 2, name="g_a1", dtype=td), GDN(name="gdn1", dtype=td),
                _conv(N, 5, 2, name="g_a2", dtype=td), GDN(name="gdn2", dtype=td),
                _conv(M, 5, 2, name="g_a3", dtype=td),
            ],
            name="g_a",
        )
        self.g_s = keras.Sequential(
            [
                _deconv(N, 5, name="g_s0", dtype=td), GDN(inverse=True, name="igdn0", dtype=td),
                _deconv(N, 5, name="g_s1", dtype=td), GDN(inverse=True, name="igdn1", dtype=td),
                _deconv(N, 5, name="g_s2", dtype=td), GDN(inverse=True, name="igdn2", dtype=td),
                _deconv(3, 5, name="g_s3", dtype=td),
            ],
            name="g_s",
        )
        self.h_a = keras.Sequential(
            [
                _conv(N, 3, 1, "leaky_relu", name="h_a0"),
                _conv(N, 5, 2, "leaky_relu", name="h_a1"),
                _conv(N, 5, 2, name="h_a2"),
            ],
            name="h_a",
        )
        self.h_s = keras.Sequential(
            [
                _deconv(M, 5, activation="leaky_relu", name="h_s0"),
                _deconv(M * 3 // 2, 5, activation="leaky_relu", name="h_s1"),
                _conv(2 * M, 3, 1, name="h_s2"),
            ],
            name="h_s",
        )
        # The checkerboard context: a 5×5 convolution over the decoded anchors, and an
        # entropy-parameter network whose output is *added* to the hyperprior's parameters. Its
        # last layer starts at zero, so a model initialised from hyperprior-only weights starts
        # exactly where those weights were and nothing already learned is thrown away.
        self.context_conv = _conv(M, 5, 1, name="ctx0")
        self.ep0 = _conv(2 * M, 1, 1, "leaky_relu", name="ep0")
        self.ep1 = _conv(2 * M, 1, 1, name="ep1", zero=True)
        self.entropy_bottleneck = EntropyBottleneck(N, name="entropy_bottleneck")
        # Gains live in the log domain (always positive; geometric interpolation is linear
        # there). Start the levels spread around 1 so they differ from the first step.
        spread = np.linspace(-1.0, 1.0, self.num_levels)[:, None] * np.ones((1, M))
        self.log_gain = self.add_weight(
            name="log_gain", shape=(self.num_levels, M), initializer=keras.initializers.Constant(spread)
        )
        self.log_igain = self.add_weight(
            name="log_igain", shape=(self.num_levels, M), initializer=keras.initializers.Constant(-spread)
        )
        # Training only: the codec's model has no such state, so its weights (and the digest that
        # every coded file carries) stay what they were.
        self.normalise_levels = bool(normalise_levels)
        self.level_norm = LevelNormaliser(self.num_levels, name="level_norm") if normalise_levels else None
        self.seed_generator = keras.random.SeedGenerator(20181)
        self.tables: CodingTables | None = None  # integer coding tables: see tables.py
        self.tile_size = tiling.TILE_SIZE
        self.band_rows = BAND_ROWS
        self.bpp_tracker = keras.metrics.Mean(name="bpp")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")
        self.rd_tracker = keras.metrics.Mean(name="rd")  # the raw R + λ·D, before normalisation

    def get_config(self):
        return {"N": self.N, "M": self.M, "lambdas": self.lambdas, "transform_dtype": self.transform_dtype,
                "normalise_levels": self.normalise_levels, "name": self.name}

    # --- gains --------------------------------------------------------------------------------
    def _level_gains(self, level):
        """level: int tensor (B,) -> gain, igain of shape (B, 1, 1, M)."""
        gain = ops.exp(ops.take(self.log_gain, level, axis=0))
        igain = ops.exp(ops.take(self.log_igain, level, axis=0))
        return ops.expand_dims(ops.expand_dims(gain, 1), 1), ops.expand_dims(ops.expand_dims(igain, 1), 1)

    def gains_for_quality(self, quality: float) -> tuple[np.ndarray, np.ndarray]:
        """Continuous knob in [0, K−1] -> per-channel (gain, inverse gain), numpy."""
        q = float(np.clip(quality, 0, self.num_levels - 1))
        lo = int(math.floor(q))
        hi = min(lo + 1, self.num_levels - 1)
        t = q - lo
        log_gain = ops.convert_to_numpy(self.log_gain)
        log_igain = ops.convert_to_numpy(self.log_igain)
        gain = np.exp((1 - t) * log_gain[lo] + t * log_gain[hi])
        igain = np.exp((1 - t) * log_igain[lo] + t * log_igain[hi])
        return gain.astype(np.float32), igain.astype(np.float32)

    # --- training graph -----------------------------------------------------------------------
    def split_params(self, params):
        means, scales_raw = ops.split(params, 2, axis=-1)
        return means, ops.softplus(scales_raw) + 0.11

    def prior(self, hyper, y, record=None):
        """Checkerboard parameters (float): anchors from the hyperprior alone, the others also
        from the context of the anchors' ŷ. -> (means, scales). `record(name, tensor)` sees each
        intermediate activation (for the integer tables' calibration)."""
        record = record or (lambda name, value: None)
        anchors = anchor_mask(y)
        hidden_a = self.ep0(ops.concatenate([hyper, ops.zeros_like(y)], axis=-1))
        params_a = hyper + self.ep1(hidden_a)
        means_a, _ = ops.split(params_a, 2, axis=-1)
        y_hat_anchors = (means_a + ste_round(y - means_a)) * anchors
        ctx = self.context_conv(y_hat_anchors)
        hidden_n = self.ep0(ops.concatenate([hyper, ctx], axis=-1))
        params_n = hyper + self.ep1(hidden_n)
        params = anchors * params_a + (1.0 - anchors) * params_n
        record("context", ctx * (1.0 - anchors))
        record("params_hidden", anchors * hidden_a + (1.0 - anchors) * hidden_n)
        record("params", params)
        return self.split_params(params)

    def call(self, inputs, training=False):
        x = inputs["image"]
        level = ops.cast(inputs["level"], "int32")
        gain, igain = self._level_gains(level)

        y = ops.cast(self.g_a(x), "float32") * gain
        z = self.h_a(y)
        if training:
            # Rate from noisy z (a differentiable proxy for rounding); h_s sees really rounded z
            # with a straight-through gradient, as the decoder will (CompressAI's "ste").
            z_rate = z + keras.random.uniform(ops.shape(z), -0.5, 0.5, seed=self.seed_generator)
            z_hat = ste_round(z)
        else:
            z_rate = z_hat = ops.round(z)
        z_lik = self.entropy_bottleneck(z_rate)
        means, scales = self.prior(self.h_s(z_hat), y)

        # Rate from noisy latents; distortion from really rounded latents with a straight-through
        # gradient, which the decoder will see.
        if training:
            y_rate = y + keras.random.uniform(ops.shape(y), -0.5, 0.5, seed=self.seed_generator)
        else:
            y_rate = means + ops.round(y - means)
        y_lik = gaussian_likelihood(y_rate - means, scales)
        y_hat = means + ste_round(y - means)
        x_hat = ops.cast(self.g_s(y_hat * igain), "float32")

        shape = ops.shape(x)
        num_pixels = ops.cast(shape[1] * shape[2], "float32")
        bits = -(ops.sum(ops.log(y_lik), axis=(1, 2, 3)) + ops.sum(ops.log(z_lik), axis=(1, 2, 3))) / math.log(2)
        bpp = bits / num_pixels
        mse = ops.mean(ops.square(x - x_hat), axis=(1, 2, 3))
        lam = ops.take(ops.convert_to_tensor(self.lambdas, dtype="float32"), level)
        rd = bpp + lam * (255.0**2) * mse
        rd_norm = self.level_norm(rd, level, training=training) if self.level_norm is not None else rd
        return {"x_hat": x_hat, "bpp": bpp, "mse": mse, "rd": rd, "rd_norm": rd_norm}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        self.bpp_tracker.update_state(y_pred["bpp"])
        clipped = ops.stop_gradient(ops.clip(y_pred["x_hat"], 0.0, 1.0))  # PSNR as the decoder will see it
        mse8 = ops.mean(ops.square(clipped - x["image"]), axis=(1, 2, 3))
        self.psnr_tracker.update_state(-10.0 * ops.log(ops.maximum(mse8, 1e-10)) / math.log(10.0))
        self.rd_tracker.update_state(y_pred["rd"])
        # Each level's R + λ·D over its running mean (see LevelNormaliser): every level weighs alike.
        return ops.mean(y_pred["rd_norm"])

    # --- coding (numpy; the probability model in exact integers) ------------------------------
    def _require_tables(self) -> CodingTables:
        if self.tables is None:
            raise TablesError("this model has no coding tables; load them with the weights "
                              "(coder.load_model) or build them (tables.build_tables) before coding")
        return self.tables

    def hyper_latents(self, y: np.ndarray) -> np.ndarray:
        t = self._require_tables()
        # Tiled like g_a: on the whole latent grid, h_a's TensorFlow working memory (which the
        # library keeps afterwards) would grow with the photo.
        z = tiling.run_tiled(lambda tile: self.h_a(tile, training=False), y, scale=(1, 4),
                             tile=tiling.HYPER_TILE, halo=tiling.HYPER_HALO)
        return np.clip(np.rint(z), -t.z_half, t.z_half).astype(np.int64)

    def compress(self, image: np.ndarray | None, quality: float, *, analysis: np.ndarray | None = None) -> Compressed:
        """image: (H, W, 3) uint8, H and W multiples of DOWNSAMPLING (see `coding.pad`). `analysis`:
        g_a(image) when the caller already has it (it does not depend on the quality; `image`
        is then not needed)."""
        t = self._require_tables()
        gain, _ = self.gains_for_quality(quality)
        latents = self.analysis(image) if analysis is None else analysis
        z_int = self.hyper_latents(latents * gain)  # y = g_a(x)·gain, whole only while h_a runs
        return encode_latents(t, latents, gain, z_int, self.band_rows)

    def decompress(self, strings: tuple[bytes, bytes], shape: tuple[int, int], quality: float,
                   check=None) -> np.ndarray:
        """-> (H, W, 3) uint8 of the padded size. `check(z_symbols, y_symbols)` may veto the
        decoded symbols (by raising) before the synthesis transform runs."""
        t = self._require_tables()
        _, igain = self.gains_for_quality(quality)
        y_hat = decode_latents(t, strings, shape, self.band_rows, check)
        # ŷ is exact in float32 (see decode_latents); its product with the gain is rounded once.
        y_hat *= igain
        # Each tile becomes 8-bit pixels at once: a float copy of a whole 24-megapixel picture
        # (and its rounding temporaries) would be most of the decoder's memory.
        def synthesis(tile):
            pixels = ops.convert_to_numpy(self.g_s(tile, training=False)) * 255.0
            return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

        return tiling.run_tiled(synthesis, y_hat, scale=(16, 1), tile=self.tile_size // 16,
                                halo=tiling.TILE_HALO // 16)

    def analysis(self, image: np.ndarray) -> np.ndarray:
        """g_a(x) before the gain: in column strips and bands of rows (`tiling.run_strips`);
        photos that fit one tile's window in one piece."""
        h, w = image.shape[:2]
        window = self.tile_size + 2 * tiling.TILE_HALO
        if h <= window and w <= window:
            return ops.convert_to_numpy(self.g_a(image[None].astype(np.float32) / 255.0, training=False))[0]
        return tiling.run_strips(self.g_a.layers, image, lambda rows: rows.astype(np.float32) / 255.0, stride=16)

    def load_weights(self, *args, **kwargs):
        self.tables = None  # the coding tables belong to the old weights
        return super().load_weights(*args, **kwargs)


def build_model(N: int, M: int, lambdas=DEFAULT_LAMBDAS, transform_dtype=None, normalise_levels=False) -> MSCAE:
    model = MSCAE(N=N, M=M, lambdas=lambdas, transform_dtype=transform_dtype, normalise_levels=normalise_levels)
    dummy = {"image": np.zeros((1, DOWNSAMPLING, DOWNSAMPLING, 3), np.float32), "level": np.zeros((1,), np.int32)}
    model(dummy)  # create every variable, so weights can be loaded
    return model


CONTEXT_LAYERS = ("ctx0", "ep0", "ep1")


def load_weights_without_context(model: MSCAE, path) -> None:
    """Load a hyperprior-only weights file (the first mscae, format 1) into this model: every
    layer but the context ones, which keep their initial values. Since ep1 starts at zero the
    model then computes exactly what the old one did, and training the context starts there."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(path, skip_mismatch=True)
    for warning in caught:
        text = str(warning.message)
        if "could not be loaded" in text and not all(name in text for name in CONTEXT_LAYERS):
            raise ValueError(f"{str(path)!r} does not fit this model: {text.splitlines()[0]}")
