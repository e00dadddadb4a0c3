"""The learned codec's integer prior runs in row bands of the latent grid (latents.code_latents)
and its integer layers in row chunks (integer.correlate): neither may change a single symbol,
the order the range coder sees them in, or therefore a byte of any file."""
import numpy as np
import pytest

from compression.learned import coder, integer, tiling
from compression.learned.coding import checkerboard, pad
from compression.learned.latents import code_latents

from .conftest import make_photo

WHOLE_GRID = 10**6  # a band taller than any latent grid: one band, the whole-grid computation


@pytest.fixture(scope="module")
def loaded():
    """A tiny model with a strong random context branch: its scales vary from latent to latent,
    so each pass is coded in several groups (one per scale) and the order matters."""
    import keras

    from compression.learned.models import build_model
    from compression.learned.zoo import model_config

    keras.utils.set_random_seed(5)
    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    kernel, bias = model.ep1.get_weights()
    rng = np.random.default_rng(5)
    model.ep1.set_weights([rng.normal(0, 0.5, kernel.shape).astype(np.float32),
                           rng.normal(0, 2.0, bias.shape).astype(np.float32)])
    return coder.wrap_model("mscae-tiny", model)


@pytest.fixture(scope="module")
def image():
    return pad(np.asarray(make_photo(200, 136, seed=21)))  # a 12 × 16 latent grid


def encode_with_bands(loaded, image, band_rows):
    loaded.model.band_rows = band_rows
    try:
        return coder.encode(loaded, image, 70)
    finally:
        loaded.model.band_rows = WHOLE_GRID


def whole_grid_passes(tables, hyper, y_hat_fx):
    """The two checkerboard passes as they were first written: every parameter of a pass from
    one whole-grid computation. -> [(positions, means, idx)] of the anchor and the other pass."""
    anchors = checkerboard(hyper.shape[:2])
    no_context = np.zeros((int(anchors.sum()), 1, tables.context.kernel.shape[-1]), np.int64)
    context = tables.context_features(y_hat_fx, anchors)[~anchors][:, None]
    out = []
    for positions, ctx in ((anchors, no_context), (~anchors, context)):
        means, idx = tables.split(tables.params_at(hyper[positions][:, None], ctx)[:, 0])
        out.append((positions, means, idx))
    return out


@pytest.mark.parametrize("band_rows", [1, 2, 3, 5])
def test_band_wise_coding_makes_the_same_file_as_whole_grid_coding(loaded, image, band_rows):
    whole = encode_with_bands(loaded, image, WHOLE_GRID)
    assert encode_with_bands(loaded, image, band_rows) == whole


@pytest.mark.parametrize("band_rows", [1, 3])
def test_each_pass_codes_the_whole_grid_parameters_in_raster_order(loaded, image, band_rows):
    model, tables = loaded.model, loaded.model.tables
    compressed = model.compress(image, loaded.knob(40))
    z_symbols, y_symbols = compressed.symbols
    hyper = tables.hyper_params(z_symbols)
    seen = []

    def code_pass(positions, means, idx):  # a decoder that already knows every symbol
        seen.append((positions, means, idx))
        return y_symbols[positions]

    symbols, means_fx = code_latents(tables, hyper, code_pass, band_rows)
    np.testing.assert_array_equal(symbols, y_symbols)
    y_hat_fx = symbols * (1 << tables.mean_bits) + means_fx
    expected = whole_grid_passes(tables, hyper, y_hat_fx)
    assert len(seen) == 2
    for (positions, means, idx), (want_positions, want_means, want_idx) in zip(seen, expected):
        np.testing.assert_array_equal(positions, want_positions)
        np.testing.assert_array_equal(means, want_means)
        np.testing.assert_array_equal(idx, want_idx)
    assert len(np.unique(expected[1][2])) > 1  # more than one scale: the grouped order is exercised


def test_a_band_wise_file_decodes_to_its_symbols_and_the_whole_grid_picture(loaded, image):
    model = loaded.model
    model.band_rows = 2
    try:
        compressed = model.compress(image, loaded.knob(70))
        data = coder.encode(loaded, image, 70)
        model.band_rows = 3
        seen = {}
        model.decompress(compressed.strings, compressed.shape, loaded.knob(70),
                         check=lambda z, y: seen.update(z=z, y=y))
        banded = coder.decode(data, loaded)  # checks the file's symbols digest too
    finally:
        model.band_rows = WHOLE_GRID
    np.testing.assert_array_equal(seen["z"], compressed.symbols[0])
    np.testing.assert_array_equal(seen["y"], compressed.symbols[1])
    assert np.abs(compressed.symbols[1]).max() > 0
    np.testing.assert_array_equal(banded, coder.decode(data, loaded))


def test_integer_layers_give_the_same_values_in_any_chunk_of_rows(loaded, monkeypatch):
    tables = loaded.model.tables
    rng = np.random.default_rng(3)
    z_symbols = rng.integers(-8, 9, (3, 5, tables.z_pmf.shape[0]))
    whole = tables.hyper_params(z_symbols)
    y_hat_fx = rng.integers(-5000, 5000, (*whole.shape[:2], tables.latent_channels))
    anchors = checkerboard(whole.shape[:2])
    context = tables.context_features(y_hat_fx, anchors)
    monkeypatch.setattr(integer, "CHUNK_ELEMENTS", 1)  # one output row per matrix product
    np.testing.assert_array_equal(tables.hyper_params(z_symbols), whole)
    np.testing.assert_array_equal(tables.context_features(y_hat_fx, anchors), context)
    assert whole.dtype == np.int16 and np.abs(whole).max() > 0


def test_tiled_hyper_analysis_gives_the_whole_grid_hyper_latents(loaded, monkeypatch):
    model = loaded.model
    y = np.random.default_rng(4).normal(0, 20, (40, 56, model.M)).astype(np.float32)
    whole = model.hyper_latents(y)  # 40 × 56 latents: one piece at the default tile size
    monkeypatch.setattr(tiling, "HYPER_TILE", 8)
    monkeypatch.setattr(tiling, "HYPER_HALO", 8)
    np.testing.assert_array_equal(model.hyper_latents(y), whole)  # 5 × 7 tiles
    assert np.abs(whole).max() > 0


def upsample2(x):
    """x with a zero inserted after every row and column: the stride-2 transposed convolution's input."""
    u = np.zeros((2 * x.shape[0], 2 * x.shape[1], x.shape[2]), x.dtype)
    u[::2, ::2] = x
    return u


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (6, 4)])
def test_transposed_integer_layers_computed_by_phases_equal_the_zero_inserted_correlation(loaded, shape):
    """h_s's stride-2 layers run as four small correlations (IntLayer.accumulate), leaving out
    the products with the inserted zeros: the same integers, also at the inputs' extremes."""
    rng = np.random.default_rng(6)
    for layer in (lay for lay in loaded.model.tables.hyper if lay.kind == "deconv2"):
        c = layer.kernel.shape[2]
        for x in (rng.integers(-integer.ACT_MAX, integer.ACT_MAX + 1, (*shape, c)),
                  np.where(rng.random((*shape, c)) < 0.5, -integer.ACT_MAX, integer.ACT_MAX)):
            kh = layer.kernel.shape[0]
            zero_inserted = integer.correlate(upsample2(x), layer.kernel, (kh - 2, 1))
            np.testing.assert_array_equal(layer.accumulate(x), zero_inserted)
            np.testing.assert_array_equal(layer(x), layer.rescale(zero_inserted.copy()).astype(np.int16))


def test_the_context_at_the_other_positions_equals_the_whole_band_convolution(loaded, monkeypatch):
    tables = loaded.model.tables
    rng = np.random.default_rng(7)
    for shape in ((1, 1), (2, 7), (9, 6)):
        anchors = checkerboard(shape)
        bound = 511 * 2**tables.mean_bits + integer.ACT_MAX  # the largest |ŷ| in units of 2^-F
        y_hat_fx = rng.integers(-bound, bound + 1, (*shape, tables.latent_channels))
        points = np.argwhere(~anchors)
        expected = tables.context_features(y_hat_fx, anchors)[~anchors]
        np.testing.assert_array_equal(tables.context_at(y_hat_fx, anchors, points), expected)
        monkeypatch.setattr(integer, "CHUNK_ELEMENTS", 1)  # one position per matrix product
        np.testing.assert_array_equal(tables.context_at(y_hat_fx, anchors, points), expected)
        monkeypatch.undo()


def test_analysis_in_strips_and_row_bands_gives_the_one_piece_latents(loaded, monkeypatch):
    """g_a in strips of columns, each in bands of rows layer after layer (tiling.run_strips): every
    latent from the same input values as in one piece. The kernels may sum in another order for
    another shape (AVX2-only CPUs differ by an ulp on a few values), so the latents agree to a
    tolerance, and every latent not within that tolerance of a rounding boundary rounds to the
    same symbol: g_a runs only in the encoder, so that is what a file can depend on."""
    from keras import ops

    model = loaded.model
    image = pad(np.asarray(make_photo(330, 200, seed=22)))  # 256 × 384 pixels
    whole = ops.convert_to_numpy(model.g_a(image[None].astype(np.float32) / 255.0, training=False))[0]
    monkeypatch.setattr(model, "tile_size", 64)  # too large for one tile: strips
    for strip, budget in ((128, 1 << 12), (64, 1 << 16), (1024, 1 << 21)):
        monkeypatch.setattr(tiling, "ANALYSIS_STRIP", strip)
        monkeypatch.setattr(tiling, "ANALYSIS_CALL_ELEMENTS", budget)
        banded = model.analysis(image)
        np.testing.assert_allclose(banded, whole, rtol=0, atol=1e-5)
        clear = np.abs(np.abs(whole - np.floor(whole)) - 0.5) > 1e-4  # not at a rounding boundary
        assert clear.mean() > 0.99
        np.testing.assert_array_equal(np.rint(banded[clear]), np.rint(whole[clear]))


def reference_rescale(layer, acc):
    """IntLayer.rescale as first written: int64 throughout, the leaky ReLU, then the clip."""
    acc = acc * layer.multiplier + layer.bias + (1 << (layer.shift - 1))
    acc >>= layer.shift
    if layer.leaky:
        acc = integer.leaky_relu_int(acc)
    return np.clip(acc, -integer.ACT_MAX, integer.ACT_MAX)


def test_the_rescale_by_look_up_gives_the_reference_values(loaded):
    """IntLayer.rescale's leaky ReLU is a table look-up over a clipped range: the same values as
    the reference, for accumulators over the whole range their bound allows and around the ends
    of the table."""
    tables = loaded.model.tables
    rng = np.random.default_rng(8)
    for layer in (*tables.hyper, tables.context, *tables.params):
        o = layer.kernel.shape[-1]
        bound = (integer.ACT_MAX * np.abs(layer.kernel).reshape(-1, o).sum(axis=0)).max()
        acc = np.concatenate([
            rng.integers(-bound, bound + 1, (4000, o)),
            rng.integers(-bound // 1000, bound // 1000 + 1, (4000, o)),
            # accumulators whose rescaled value lands next to the table's ends and at zero
            *[(np.round((v + rng.integers(-3, 4, (200, o))) * 2.0**layer.shift / np.where(
                layer.multiplier != 0, layer.multiplier, 1))).astype(np.int64)
              for v in (integer.LEAKY_LOW, -integer.ACT_MAX, 0, integer.ACT_MAX)],
        ])
        acc = np.clip(acc, -bound, bound)
        got = layer.rescale(acc.copy())
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, reference_rescale(layer, acc))
