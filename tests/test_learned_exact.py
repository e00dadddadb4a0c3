"""Learned-codec files decode to the same symbols under any arithmetic: the probability model is
exact integers, loaded as data (compression/learned/integer.py, tables.py)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compression.base import CodecError
from compression.learned import bitstream, coder, integer, tiling
from compression.learned.coding import pad
from compression.learned.models import build_model, load_weights_without_context
from compression.learned.tables import CodingTables, tables_path
from compression.learned.zoo import model_config

from .conftest import make_photo

ROOT = Path(__file__).resolve().parent.parent

DECODE_SCRIPT = r"""
import json, sys
import django, numpy as np
django.setup()
from compression.learned import bitstream, coder
from compression.learned.coding import DOWNSAMPLING
weights, msc, out = sys.argv[1:4]
loaded = coder.load_model("mscae-tiny", weights)
header, z, y = bitstream.unpack(open(msc, "rb").read())
seen = {}
shape = (-(-header.height // DOWNSAMPLING), -(-header.width // DOWNSAMPLING))
pixels = loaded.model.decompress((y, z), shape, header.quality, check=lambda zs, ys: seen.update(z=zs, y=ys))
np.savez(out, z=seen["z"], y=seen["y"], pixels=pixels)
import keras
print(json.dumps({"backend": keras.backend.backend()}))
"""


def context_model(seed=0):
    """A tiny model whose context branch is switched on (random, non-zero), so the second
    checkerboard pass really depends on the first."""
    import keras

    keras.utils.set_random_seed(seed)
    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    kernel, bias = model.ep1.get_weights()
    model.ep1.set_weights([np.random.default_rng(seed).normal(0, 0.05, kernel.shape).astype(np.float32), bias])
    return coder.wrap_model("mscae-tiny", model)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    loaded = context_model()
    folder = tmp_path_factory.mktemp("exact")
    weights = folder / "tiny.weights.h5"
    coder.save_model(loaded, weights)
    image = np.asarray(make_photo(200, 136, seed=11))
    compressed = loaded.model.compress(pad(image), loaded.knob(70))
    data = coder.encode(loaded, image, 70)
    (folder / "photo.msc").write_bytes(data)
    return loaded, weights, folder, compressed


ARITHMETIC = {
    # TensorFlow's other CPU kernels (Eigen instead of oneDNN), as on a CPU without AVX-512 or
    # another TensorFlow build; one thread changes every summation order; JAX is another backend.
    "eigen-kernels": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "one-thread": {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"},
    "jax-backend": {"KERAS_BACKEND": "jax"},
}


@pytest.mark.parametrize("setting", sorted(ARITHMETIC))
def test_a_file_decodes_to_the_same_symbols_under_other_arithmetic(saved, setting, tmp_path):
    if setting == "jax-backend" and importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed here: the JAX-backend decode is not checked")
    loaded, weights, folder, compressed = saved
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.development", "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "3", **ARITHMETIC[setting]}
    out = tmp_path / "decoded.npz"
    result = subprocess.run([sys.executable, "-c", DECODE_SCRIPT, str(weights), str(folder / "photo.msc"), str(out)],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    if setting == "jax-backend":
        assert json.loads(result.stdout.splitlines()[-1])["backend"] == "jax"
    decoded = np.load(out)
    np.testing.assert_array_equal(decoded["z"], compressed.symbols[0])
    np.testing.assert_array_equal(decoded["y"], compressed.symbols[1])
    # The pixels come from the float synthesis transform (g_s), which never decides a symbol:
    # other kernels may move a value that lies on a rounding boundary by one level, no more.
    here = loaded.model.decompress(compressed.strings, compressed.shape, loaded.knob(70))
    diff = np.abs(decoded["pixels"].astype(int) - here.astype(int))
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3


def test_the_second_pass_really_uses_the_context_of_the_first(saved):
    loaded, _, _, compressed = saved
    tables = loaded.model.tables
    hyper = tables.hyper_params(compressed.symbols[0])
    anchors = np.indices(hyper.shape[:2]).sum(axis=0) % 2 == 0
    y_hat = compressed.symbols[1] * (1 << tables.mean_bits)
    ctx = tables.context_features(y_hat, anchors)[~anchors][:, None]
    with_context = tables.params_at(hyper[~anchors][:, None], ctx)
    without = tables.params_at(hyper[~anchors][:, None], np.zeros_like(ctx))
    assert np.abs(ctx).max() > 0 and not np.array_equal(with_context, without)


def test_loading_weights_reads_the_tables_and_never_rebuilds_them(saved, monkeypatch, tmp_path):
    from compression.learned import entropy_models, tables

    loaded, weights, folder, compressed = saved

    def refuse(*args, **kwargs):
        raise AssertionError("coding tables were recomputed at load time")

    monkeypatch.setattr(tables, "build_tables", refuse)
    monkeypatch.setattr(tables, "scale_index_thresholds", refuse)
    monkeypatch.setattr(entropy_models.EntropyBottleneck, "pmf_table", refuse)
    copy = tmp_path / "copy.weights.h5"  # another path: not the process's already-loaded model
    copy.write_bytes(Path(weights).read_bytes())
    tables_path(copy).write_bytes(tables_path(weights).read_bytes())
    reloaded = coder.load_model("mscae-tiny", copy)
    assert reloaded.digest == loaded.digest
    decoded = coder.decode((folder / "photo.msc").read_bytes(), reloaded)
    assert decoded.shape == (136, 200, 3)


def test_weights_without_their_tables_are_refused_with_what_to_do(saved, tmp_path):
    _, weights, _, _ = saved
    lonely = tmp_path / "lonely.weights.h5"
    lonely.write_bytes(Path(weights).read_bytes())
    with pytest.raises(CodecError, match="train_codec --export"):
        coder.load_model("mscae-tiny", lonely)


def test_the_digest_covers_the_tables(saved):
    loaded, weights, _, _ = saved
    tables = CodingTables.load(tables_path(weights))
    changed = CodingTables(**{**tables.__dict__, "mean_bits": tables.mean_bits + 1})
    float_weights = [np.asarray(w) for w in loaded.model.weights]
    from compression.learned.tables import digest

    assert digest(changed, float_weights) != digest(tables, float_weights)


def test_a_version_1_file_is_refused_with_a_message_that_says_what_to_do(saved):
    loaded, _, folder, _ = saved
    data = bytearray((folder / "photo.msc").read_bytes())
    data[4] = 1
    with pytest.raises(bitstream.BitstreamError, match="version 1.*recompress_learned"):
        coder.decode(bytes(data), loaded)


def test_hyperprior_only_weights_load_into_the_context_model_unchanged(saved, tmp_path):
    import h5py

    loaded, weights, _, _ = saved
    old = tmp_path / "hyperprior.weights.h5"
    old.write_bytes(Path(weights).read_bytes())
    with h5py.File(old, "a") as f:  # the first mscae had no context layers
        for name in ("context_conv", "ep0", "ep1"):
            del f[name]
    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    load_weights_without_context(model, old)
    np.testing.assert_array_equal(model.g_s.layers[0].get_weights()[0], loaded.model.g_s.layers[0].get_weights()[0])
    np.testing.assert_array_equal(model.h_s.layers[2].get_weights()[0], loaded.model.h_s.layers[2].get_weights()[0])
    assert not np.any(model.ep1.get_weights()[0])  # the context starts switched off


# --- integer layers -----------------------------------------------------------------------------
def float_reference(x_real, kernel, bias, kind):
    import keras

    layer = (keras.layers.Conv2D if kind == "conv" else keras.layers.Conv2DTranspose)(
        kernel.shape[-1] if kind == "conv" else kernel.shape[-2], kernel.shape[0],
        strides=1 if kind == "conv" else 2, padding="same")
    layer.build((1, *x_real.shape))
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return np.asarray(layer(x_real[None].astype(np.float32)))[0].astype(np.float64)


@pytest.mark.parametrize("kind, kernel_shape", [("conv", (3, 3, 6, 5)), ("conv", (5, 5, 4, 3)),
                                                ("deconv2", (5, 5, 5, 4))])
def test_integer_layers_match_their_float_reference_within_tolerance(kind, kernel_shape):
    rng = np.random.default_rng(1)
    kernel = rng.normal(0, 0.2, kernel_shape)
    bias = rng.normal(0, 0.5, kernel_shape[-1] if kind == "conv" else kernel_shape[-2])
    cin = kernel_shape[2] if kind == "conv" else kernel_shape[3]
    in_scale = np.full(cin, 0.01)
    x_int = rng.integers(-900, 900, (7, 9, cin))
    expected = float_reference(x_int * in_scale, kernel, bias, kind)
    out_scale = integer.activation_scale(np.abs(expected).reshape(-1, expected.shape[-1]).max(axis=0))
    layer = integer.quantize_layer(kernel, bias, kind=kind, leaky=False, in_scale=in_scale, out_scale=out_scale)
    got = layer(x_int) * out_scale
    # The stated tolerance: half a weight step (12-bit weights, per output channel) times the
    # largest possible input sum, plus one output step (16-bit activations) for the rounding.
    kc = integer.correlation_kernel(kernel, kind) * in_scale[None, None, :, None]
    w_step = np.abs(kc).reshape(-1, kc.shape[-1]).max(axis=0) / integer.WEIGHT_MAX
    bound = 0.5 * w_step * np.abs(x_int).max() * np.prod(kc.shape[:3]) + out_scale
    assert (np.abs(got - expected).reshape(-1, len(bound)).max(axis=0) <= bound).all()
    assert np.abs(got - expected).max() < 1e-3 * np.abs(expected).max()  # and it is small in practice


def test_integer_layers_cannot_overflow_at_the_extremes_of_their_inputs():
    rng = np.random.default_rng(2)
    kernel = rng.normal(0, 1, (5, 5, 8, 3))
    layer = integer.quantize_layer(kernel, np.zeros(3), kind="conv", leaky=True,
                                   in_scale=np.ones(8), out_scale=np.full(3, 1e-3))
    x = np.where(rng.random((6, 6, 8)) < 0.5, -integer.ACT_MAX, integer.ACT_MAX).astype(np.int64)
    acc = layer.accumulate(x)
    # The exact integer convolution, in Python's unbounded integers, at the centre.
    window = x[1:6, 1:6].astype(object)
    exact = [int((window * layer.kernel[..., c].astype(object)).sum()) for c in range(3)]
    assert list(acc[3, 3]) == exact
    v = layer(x)
    assert np.abs(v).max() <= integer.ACT_MAX
    # Its stated bound holds: |acc| · m stays below 2^62.
    bound = integer.ACT_MAX * np.abs(layer.kernel).reshape(-1, 3).sum(axis=0)
    assert (bound.astype(float) * layer.multiplier < integer.INT64_SAFE).all()


def test_integer_leaky_relu_is_the_rounded_float_one():
    v = np.arange(-50, 51)
    expected = np.where(v >= 0, v, v * 0.2)
    assert np.abs(integer.leaky_relu_int(v) - expected).max() <= 0.5


# --- tiles --------------------------------------------------------------------------------------
def test_tiled_coding_equals_whole_image_coding_and_leaves_no_seam():
    loaded = context_model(seed=3)
    image = pad(np.asarray(make_photo(448, 320, seed=12)))
    whole = coder.encode(loaded, image, 60)
    whole_pixels = coder.decode(whole, loaded)
    loaded.model.tile_size = 128  # 4 × 3 tiles
    try:
        tiled = coder.encode(loaded, image, 60)
        tiled_pixels = coder.decode(tiled, loaded)
    finally:
        loaded.model.tile_size = tiling.TILE_SIZE
    # Tiles see more context than the transforms' receptive fields: the same symbols, the
    # same file, and pixels that differ from the whole-image decode by float rounding at most.
    # A CPU whose kernels sum a tile in another order (AVX2 against AVX-512) may put a latent an
    # ulp across a rounding boundary: then a few symbols differ, and only near them the pixels.
    error = np.abs(tiled_pixels.astype(int) - whole_pixels.astype(int)).max(axis=-1)
    if tiled != whole:
        assert abs(len(tiled) - len(whole)) <= 0.002 * len(whole)
        assert (error > 1).mean() <= 0.002
        error = np.minimum(error, 1)
    border = np.zeros(error.shape, bool)
    for k in range(128, 448, 128):
        border[:, k - 2 : k + 2] = True
    for k in range(128, 320, 128):
        border[k - 2 : k + 2, :] = True
    assert error.max() <= 1
    assert error[border].mean() <= error[~border].mean() + 1e-3  # no seam along tile borders
    # And against the original: the borders are no worse than the rest of the picture.
    diff = np.abs(tiled_pixels.astype(int) - image.astype(int)).mean(axis=-1)
    assert diff[border].mean() < 1.5 * diff[~border].mean()


MEMORY_SCRIPT = r"""
import resource, sys, numpy as np, keras
keras.utils.set_random_seed(0)
import django; django.setup()
from compression.learned import coder
from compression.learned.models import build_model
model = build_model(16, 24)
loaded = coder.wrap_model("mscae-mid", model)
model.tile_size = int(sys.argv[1])
image = np.clip(np.random.default_rng(0).normal(128, 40, (2048, 1536, 3)), 0, 255).astype(np.uint8)
coder.decode(coder.encode(loaded, image[:128, :128].copy(), 50), loaded)  # libraries warmed up
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
coder.decode(coder.encode(loaded, image, 50), loaded)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def test_tiled_coding_keeps_peak_memory_flat_on_a_large_image():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.development", "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, "256"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    grown_mb = float(result.stdout.splitlines()[-1])
    # Measured here: +54 MB with 256-px tiles, +324 MB in one piece, for this 3-megapixel photo
    # and a 16-channel model. The bound is generous, yet whole-image coding would exceed it.
    assert grown_mb < 160
