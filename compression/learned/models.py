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
symbols; g_a, h_a (encoder only) and g_s (pixels only, never symbols) stay float.

Adaptive quantisation: one model serves K quality levels. Level k has a per-channel gain g_k
(applied before quantisation: larger gain = finer steps = more bits) and an inverse gain
applied before synthesis; all levels are trained jointly, each sample drawing a level and its
own rate–distortion trade-off λ_k. Between levels the gains are interpolated geometrically,
which gives a continuous quality knob.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import keras
from keras import layers, ops

from . import entropy_models as em
from .coding import DOWNSAMPLING, Y_SYMBOL_RANGE, checkerboard
from .entropy_models import EntropyBottleneck, gaussian_likelihood
from .layers import GDN
from .ops import anchor_mask, ste_round
from .tables import CodingTables, TablesError
from .zoo import DEFAULT_LAMBDAS

# g_s runs on tiles of TILE_SIZE pixels with TILE_HALO pixels of context on every side (g_a on
# strips, see ANALYSIS_STRIP, or in one piece when the photo fits one tile's window), so
# memory stays flat for any photo size (a 24-megapixel photo in one piece needed 11.6 GB). The
# halo exceeds both transforms' receptive fields (61 px for g_a: four 5×5 stride-2 layers; about
# ±3 latents = ±48 px for g_s), so tiled results equal whole-image ones up to float rounding.
# Multiples of 16 keep every tile on the transforms' stride grid. TensorFlow keeps the working
# memory of the largest tile it has seen (with the shipped model about 470 MB for 768-px tiles,
# 240 MB for 512-px ones, 130 MB for 384-px ones), so the tile size sets most of the coder's
# memory beyond the library itself; the halo makes smaller tiles cost more compute.
TILE_SIZE = 384
TILE_HALO = 64
# The integer prior (`code_latents`) runs in bands of this many latent rows (16 pixels each): its
# int64 working arrays then cover a band, not a 24-megapixel photo's whole latent grid.
BAND_ROWS = 16
# h_a runs on tiles of HYPER_TILE latents with HYPER_HALO latents of context (its receptive field
# is under ±8 latents); multiples of 4 keep the tiles on its stride grid.
HYPER_TILE = 128
HYPER_HALO = 16
# g_a runs on strips of ANALYSIS_STRIP columns (with TILE_HALO columns of context on either side,
# as tiles have), each strip in bands of rows, layer after layer (`run_rows`): no rows of context
# are recomputed, so the halo costs about 2·64/1024 of the compute where 384-px tiles cost 78 %.
# Each call of a layer reads or writes at most about ANALYSIS_CALL_ELEMENTS float32 values, which
# bounds TensorFlow's kept working memory as the tile size did (measured on a 4-megapixel photo:
# g_a grows the peak by 135 MB, 91 MB with tiles; full-width bands of 2^22 values took 260 MB).
# The latents are bit-identical to the tiled ones (observed here on Kodak, a 4- and a
# 24-megapixel photo: g_a's float32 layers give an output the same value whatever the extent of
# the call, which the tiles already showed). g_s is not run this way: its results do change with
# the extent of a call (±1 on 37 of 12 million values of the 4-megapixel photo against its
# tiles), and its tiles keep the decoded pixels exactly as they were.
ANALYSIS_STRIP = 1024
ANALYSIS_CALL_ELEMENTS = 1 << 21
QUANTISE_CHUNK = 4096  # latent positions the encoder quantises at a time (float64 temporaries)


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


@dataclass
class Compressed:
    strings: tuple[bytes, bytes]  # (y string, z string)
    shape: tuple[int, int]  # latent spatial shape of z
    estimated_bits: float
    symbols: tuple[np.ndarray, np.ndarray]  # (z, y) integers, as the decoder must recover them


@keras.saving.register_keras_serializable(package="mscae")
class MSCAE(keras.Model):
    def __init__(self, N: int = 128, M: int = 192, lambdas=DEFAULT_LAMBDAS, transform_dtype=None,
                 normalise_levels: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.N, self.M = int(N), int(M)
        # `transform_dtype="mixed_bfloat16"` runs g_a and g_s (0.49 s of a 0.60 s training step
        # here) in bfloat16 while training: 1.5x faster on CPUs with AVX512-BF16, and on GPUs. The hyperprior
        # and the entropy models stay float32: the rate is a sum of logs that bfloat16's 8-bit
        # mantissa would blur. Variables are float32 either way, so the weights files are the same.
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
        self.tile_size = TILE_SIZE
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
                              "(codec.load_model) or build them (tables.build_tables) before coding")
        return self.tables

    def hyper_latents(self, y: np.ndarray) -> np.ndarray:
        t = self._require_tables()
        # Tiled like g_a: on a 24-megapixel photo's whole latent grid, h_a's TensorFlow working
        # memory (which the library keeps afterwards) would be about 90 MB.
        z = run_tiled(lambda tile: self.h_a(tile, training=False), y, scale=(1, 4), tile=HYPER_TILE, halo=HYPER_HALO)
        return np.clip(np.rint(z), -t.z_half, t.z_half).astype(np.int64)

    def compress(self, image: np.ndarray | None, quality: float, *, analysis: np.ndarray | None = None) -> Compressed:
        """image: (H, W, 3) uint8, H and W multiples of DOWNSAMPLING (see `coding.pad`). `analysis`:
        g_a(image) when the caller already has it (it does not depend on the quality; `image`
        is then not needed)."""
        t = self._require_tables()
        gain, _ = self.gains_for_quality(quality)
        latents = self.analysis(image) if analysis is None else analysis
        z_int = self.hyper_latents(latents * gain)  # y = g_a(x)·gain, whole only while h_a runs
        z_rows = np.broadcast_to(np.arange(z_int.shape[-1]), z_int.shape).ravel()
        z_encoder = em.new_encoder()
        z_bits = em.encode_grouped(z_encoder, z_int.ravel(), z_rows, t.z_pmf, t.z_half)
        y_encoder = em.new_encoder()
        scale = np.float64(2.0 ** -t.mean_bits)
        flat = latents.reshape(-1, latents.shape[-1])
        y_bits = 0.0

        def code_pass(positions, means_fx, idx):
            nonlocal y_bits
            sym = np.empty(means_fx.shape, np.int16)  # |symbol| ≤ Y_SYMBOL_RANGE
            where = np.flatnonzero(positions)
            for i in range(0, where.size, QUANTISE_CHUNK):
                part = slice(i, i + QUANTISE_CHUNK)
                # y·gain in float32, as `y` always was; the difference in float64, as the files
                # have always been made (a float32 one could round across a half).
                residual = flat[where[part]] * gain - means_fx[part] * scale
                sym[part] = np.clip(np.rint(residual), -Y_SYMBOL_RANGE, Y_SYMBOL_RANGE)
            y_bits += em.encode_grouped(y_encoder, sym.ravel(), idx.ravel(), t.y_pmf, Y_SYMBOL_RANGE)
            return sym

        symbols, _ = code_latents(t, t.hyper_params(z_int), code_pass, self.band_rows)
        strings = (em.finish(y_encoder), em.finish(z_encoder))
        return Compressed(strings, z_int.shape[:2], y_bits + z_bits, (z_int, symbols))

    def decompress(self, strings: tuple[bytes, bytes], shape: tuple[int, int], quality: float,
                   check=None) -> np.ndarray:
        """-> (H, W, 3) uint8 of the padded size. `check(z_symbols, y_symbols)` may veto the
        decoded symbols (by raising) before the synthesis transform runs."""
        t = self._require_tables()
        y_string, z_string = strings
        _, igain = self.gains_for_quality(quality)
        z_shape = (*tuple(shape), t.z_pmf.shape[0])
        z_rows = np.broadcast_to(np.arange(z_shape[-1]), z_shape).ravel()
        z_int = em.decode_grouped(em.new_decoder(z_string, "hyper-latent"), z_rows, t.z_pmf, t.z_half,
                                  "hyper-latent").reshape(z_shape)
        y_decoder = em.new_decoder(y_string, "latent")

        def code_pass(positions, means_fx, idx):
            return em.decode_grouped(y_decoder, idx.ravel(), t.y_pmf, Y_SYMBOL_RANGE, "latent").reshape(idx.shape)

        symbols, means_fx = code_latents(t, t.hyper_params(z_int), code_pass, self.band_rows)
        if check is not None:
            check(z_int, symbols)
        # float32 holds symbol + mean·2^-F exactly (fewer than 24 significant bits), and its
        # product with the gain is rounded once, as g_s's float32 input always was.
        y_hat = symbols.astype(np.float32)
        del symbols
        y_hat += means_fx * np.float32(2.0 ** -t.mean_bits)
        del means_fx
        y_hat *= igain
        # Each tile becomes 8-bit pixels at once: a float copy of a whole 24-megapixel picture
        # (and its rounding temporaries) would be most of the decoder's memory.
        def synthesis(tile):
            pixels = ops.convert_to_numpy(self.g_s(tile, training=False)) * 255.0
            return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

        return run_tiled(synthesis, y_hat, scale=(16, 1), tile=self.tile_size // 16, halo=TILE_HALO // 16)

    def analysis(self, image: np.ndarray) -> np.ndarray:
        """g_a(x) before the gain, in bands of rows (see `run_rows`); photos that fit one tile in
        one piece, as `run_tiled` did."""
        h, w = image.shape[:2]
        if h <= self.tile_size + 2 * TILE_HALO and w <= self.tile_size + 2 * TILE_HALO:
            return ops.convert_to_numpy(self.g_a(image[None].astype(np.float32) / 255.0, training=False))[0]
        out = None
        # Strips as run_tiled's tiles, full height: multiples of 16 columns with TILE_HALO (more
        # than g_a's 61-px receptive field) on either side, so each strip's own latents are the
        # whole image's.
        for c0 in range(0, w, ANALYSIS_STRIP):
            c1 = min(w, c0 + ANALYSIS_STRIP)
            wc0, wc1 = max(0, c0 - TILE_HALO), min(w, c1 + TILE_HALO)
            part = run_rows(self.g_a.layers, image[:, wc0:wc1], lambda rows: rows.astype(np.float32) / 255.0)
            if out is None:
                out = np.empty((h // 16, w // 16, part.shape[-1]), part.dtype)
            out[:, c0 // 16 : c1 // 16] = part[:, (c0 - wc0) // 16 : (c1 - wc0) // 16]
        return out

    def load_weights(self, *args, **kwargs):
        self.tables = None  # the coding tables belong to the old weights
        return super().load_weights(*args, **kwargs)


def code_latents(tables: CodingTables, hyper: np.ndarray, code_pass, band_rows: int = None):
    """The two checkerboard passes, shared by encoder and decoder. `code_pass(positions,
    means_fx, idx)` codes (encoder) or decodes (decoder) the symbols of one whole pass (`positions`,
    a (h, w) mask, in raster order) given their integer means (units of 2^-F) and scale indexes,
    and returns them as (n, M) integers. -> (symbols int32, means_fx int16), both (h, w, M).

    The parameter networks run in bands of `band_rows` latent rows, so their int64 temporaries
    cover one band, never the image. The range coder still sees each pass as one sequence (every
    symbol of the lowest scale index first, see `em.encode_grouped`), so the files do not depend
    on the band size."""
    band_rows = int(band_rows or BAND_ROWS)
    h, w = hyper.shape[:2]
    m = tables.latent_channels
    anchors = checkerboard((h, w))
    symbols = np.zeros((h, w, m), np.int16)  # |symbol| ≤ Y_SYMBOL_RANGE
    means_fx = np.zeros((h, w, m), np.int16)  # |mean| ≤ ACT_MAX
    halo = tables.context.kernel.shape[0] // 2  # rows of anchors a band's context convolution reads
    for positions in (anchors, ~anchors):
        means = np.empty((int(positions.sum()), m), np.int16)
        idx = np.empty((int(positions.sum()), m), np.uint8)
        done = 0  # positions of this pass before the band, in raster order
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            here = positions[r0:r1]
            if positions is anchors:
                context = None  # a zero context: `params_at` leaves its products out
            else:  # the anchors are all known now: the others get their context
                lo, hi = max(0, r0 - halo), min(h, r1 + halo)
                # ŷ in units of 2^-F: |ŷ| < 2^22, so int32 is exact.
                y_hat_fx = symbols[lo:hi].astype(np.int32) * np.int32(1 << tables.mean_bits) + means_fx[lo:hi]
                # Only at this pass's positions (raster order, as `[here]` selects them).
                points = np.argwhere(here) + np.array([r0 - lo, 0])
                context = tables.context_at(y_hat_fx, anchors[lo:hi], points)[:, None]
            band = slice(done, done + int(here.sum()))
            means[band], idx[band] = tables.split(tables.params_at(hyper[r0:r1][here][:, None], context)[:, 0])
            done = band.stop
        symbols[positions] = code_pass(positions, means, idx)
        means_fx[positions] = means
        del means, idx
    return symbols.astype(np.int32), means_fx  # int32: what the symbols digest hashes


def _stream_conv(conv, pointwise, chunks, n: int, budget: int):
    """One stage of `run_rows`: `conv` (a Keras Conv2D, 'same' padding, stride s) then the
    `pointwise` layers, over input rows that arrive in order as `chunks` ((r, W, C) arrays, n rows
    in all) -> yields its output rows in order, in bands.

    TensorFlow's SAME padding of a stride-s, k-tap convolution over a length that is a multiple of
    s pads (k − s) // 2 = pt zeros before and the rest after, so output row i reads input rows
    s·i − pt … s·i − pt + k − 1. A band of outputs [o0, o1) is computed from the input rows
    [s0, s1) that it reads, s0 and s1 rounded to multiples of s: the band's own SAME padding then
    falls exactly where the image's does (at its first and last rows), and elsewhere every output
    kept reads only real rows, the same ones as in the whole image. The outputs computed past
    either end of the band (at most ⌈(k − s)/s⌉ rows) are dropped."""
    (k, _), (s, _) = conv.kernel_size, conv.strides
    if conv.padding != "same" or n % s or k < s:
        raise ValueError(f"run_rows: unsupported layer {conv.name}")
    pt, n_out = (k - s) // 2, n // s
    buf, buf_start, avail, done = None, 0, 0, 0
    for chunk in _with_end(chunks):
        if chunk is not None:
            buf = chunk if buf is None else np.concatenate([buf, chunk])
            avail += len(chunk)
        width = buf.shape[1]
        rows_per_call = max(1, budget // max(s * width * buf.shape[2], width // s * conv.filters))
        while done < n_out:
            ready = n_out if avail == n else min(n_out, max(0, (avail - k + pt) // s + 1))
            if ready - done < rows_per_call and not (avail == n and ready > done):
                break
            o1 = min(ready, done + rows_per_call)
            s0 = max(0, s * done - pt) // s * s
            s1 = min(n, -(-(s * (o1 - 1) - pt + k) // s) * s)
            out = conv(buf[None, s0 - buf_start : s1 - buf_start], training=False)
            out = out[:, done - s0 // s : o1 - s0 // s]
            for layer in pointwise:
                out = layer(out, training=False)
            yield ops.convert_to_numpy(out)[0]
            done = o1
            keep = max(0, s * done - pt) // s * s  # the next band's first input row
            buf, buf_start = buf[keep - buf_start :], keep


def _with_end(iterator):
    yield from iterator
    yield None


def run_rows(stack, x: np.ndarray, prepare, budget: int | None = None) -> np.ndarray:
    """A stack of 'same' Conv2D layers, each followed by pointwise layers (GDN), applied to x
    (H, W, C) in full-width bands of rows, layer after layer, each layer's input rows kept only
    until its bands no longer read them (see `_stream_conv`). Every output is computed from the
    same input values as in one piece; unlike tiles no context is computed twice. `prepare` maps
    rows of x to the first layer's input (elementwise)."""
    budget = int(budget or ANALYSIS_CALL_ELEMENTS)
    stages = []
    for layer in stack:
        if isinstance(layer, layers.Conv2D):
            stages.append((layer, []))
        elif stages:
            stages[-1][1].append(layer)
        else:
            raise ValueError(f"run_rows: {layer.name} before the first convolution")
    first = max(1, budget // max(1, x.shape[1] * x.shape[2]))
    chunks = (prepare(x[r : r + first]) for r in range(0, x.shape[0], first))
    n = x.shape[0]
    for conv, pointwise in stages:
        chunks, n = _stream_conv(conv, pointwise, chunks, n, budget), n // conv.strides[0]
    out, r = None, 0
    for chunk in chunks:
        if out is None:
            out = np.empty((n, *chunk.shape[1:]), chunk.dtype)
        out[r : r + len(chunk)], r = chunk, r + len(chunk)
    return out


def run_tiled(fn, x: np.ndarray, *, scale: tuple[int, int], tile: int, halo: int) -> np.ndarray:
    """Apply a fully convolutional `fn` ((1, h, w, C) -> (1, h·a/b, w·a/b, C')) with
    scale = (a, b) to x (H, W, C) tile by tile: each tile of `tile` input pixels is computed
    with `halo` pixels of context around it and only its own part of the output is kept."""
    a, b = scale
    h, w = x.shape[:2]
    if h <= tile + 2 * halo and w <= tile + 2 * halo:
        return ops.convert_to_numpy(fn(x[None]))[0]
    out = None
    for r0 in range(0, h, tile):
        for c0 in range(0, w, tile):
            r1, c1 = min(h, r0 + tile), min(w, c0 + tile)
            wr0, wc0 = max(0, r0 - halo), max(0, c0 - halo)
            window = ops.convert_to_numpy(fn(x[None, wr0 : min(h, r1 + halo), wc0 : min(w, c1 + halo)]))[0]
            if out is None:
                out = np.empty((h * a // b, w * a // b, window.shape[-1]), window.dtype)
            part = window[(r0 - wr0) * a // b : (r1 - wr0) * a // b, (c0 - wc0) * a // b : (c1 - wc0) * a // b]
            out[r0 * a // b : r1 * a // b, c0 * a // b : c1 * a // b] = part
    return out


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
