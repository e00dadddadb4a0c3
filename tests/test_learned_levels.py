"""Quality levels added at the top of a learned model (`compression/learned/levels.py`), on the tiny
model: extrapolated gains, weights with fewer levels loading unchanged into a model with more, the
new levels through the real bitstream, resuming a run with more levels, and files made by the
other weights refused."""
import csv
import json

import numpy as np
import pytest

import keras

from compression.learned import coder
from compression.learned.bitstream import BitstreamError
from compression.learned.codec import LearnedCodec
from compression.learned.latents import BAND_ROWS, decode_latents
from compression.learned.levels import extrapolate, load_weights_tolerant, num_levels_in
from compression.learned.models import build_model
from compression.learned.training import train
from compression.learned.zoo import LAMBDAS, level_lambdas, model_config

from .conftest import photo_folder

CFG = model_config("mscae-tiny")


def _model(levels, **kwargs):
    return build_model(CFG["N"], CFG["M"], level_lambdas(levels), **kwargs)


def _six_level_weights(path, *, exact_inverse=False, training=False, lowest=-0.9):
    """A 6-level tiny model whose log gains rise level by level from about `lowest` at a
    different rate in every channel, as trained ones do (the initial ones are one line shared by
    all channels)."""
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(0)
    model = _model(6, normalise_levels=training)
    m = CFG["M"]
    log_gain = lowest + np.arange(6)[:, None] * rng.uniform(0.25, 0.4, (1, m)) + rng.normal(0, 0.02, (6, m))
    log_igain = -log_gain if exact_inverse else -log_gain - 0.4 + rng.normal(0, 0.05, (6, m))
    model.log_gain.assign(log_gain.astype(np.float32))
    model.log_igain.assign(log_igain.astype(np.float32))
    model.save_weights(path)
    return model


def test_the_level_set_is_compressais_and_a_model_has_two_to_eight_levels():
    assert LAMBDAS[:6] == CFG["lambdas"] and len(LAMBDAS) == 8
    assert all(b / a > 1.8 for a, b in zip(LAMBDAS, LAMBDAS[1:]))
    for bad in (1, 9):
        with pytest.raises(ValueError, match="2 to 8"):
            level_lambdas(bad)


def test_extrapolation_keeps_the_trained_levels_and_continues_each_channels_line():
    rng = np.random.default_rng(1)
    start, slope = rng.normal(0, 1, 5), rng.uniform(0.2, 0.4, 5)
    lines = start + np.arange(6)[:, None] * slope
    out = extrapolate(lines, 8)
    assert out.shape == (8, 5)
    np.testing.assert_array_equal(out[:6], lines.astype(np.float32))
    np.testing.assert_allclose(out[6:], start + np.arange(6, 8)[:, None] * slope, rtol=1e-5, atol=1e-5)
    # A channel whose top levels bend away from the low ones follows the top ones.
    bent = np.array([0.0, 0.1, 0.2, 0.5, 0.8, 1.1])[:, None]
    assert extrapolate(bent, 7)[6, 0] == pytest.approx(1.4)
    with pytest.raises(ValueError, match="drop"):
        extrapolate(lines, 5)


def test_six_level_weights_load_into_an_eight_level_model_with_levels_0_to_5_unchanged(tmp_path):
    path = tmp_path / "six.weights.h5"
    six = _six_level_weights(path)
    eight = _model(8)
    assert num_levels_in(path) == 6
    load_weights_tolerant(eight, path)
    np.testing.assert_array_equal(np.asarray(eight.log_gain)[:6], np.asarray(six.log_gain))
    np.testing.assert_array_equal(np.asarray(eight.log_igain)[:6], np.asarray(six.log_igain))
    def others(model):
        return [w for w in model.weights if w.path.split("/")[-1] not in ("log_gain", "log_igain")]

    for got, want in zip(others(eight), others(six), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # Before any training the extended model computes at the old levels what the old one did.
    image = coder.synthetic_images(1, 64)[0].astype(np.float32)[None] / 255.0
    batch = {"image": np.repeat(image, 6, axis=0), "level": np.arange(6, dtype=np.int32)}
    out6, out8 = six(batch, training=False), eight(batch, training=False)
    for name in ("x_hat", "bpp"):
        np.testing.assert_array_equal(np.asarray(out8[name]), np.asarray(out6[name]))
    # The new levels quantise more finely than the top trained one, in every channel.
    assert np.all(np.diff(np.asarray(eight.log_gain)[5:], axis=0) > 0)
    assert np.all(np.diff(np.asarray(eight.log_igain)[5:], axis=0) < 0)


def test_the_training_state_per_level_carries_over_and_the_new_levels_start_unseen(tmp_path):
    path = tmp_path / "six.weights.h5"
    six = _model(6, normalise_levels=True)
    six.level_norm.running_mean.assign(np.linspace(0.6, 3.9, 6).astype(np.float32))
    six.level_norm.seen.assign(np.ones(6, np.float32))
    six.save_weights(path)
    eight = _model(8, normalise_levels=True)
    load_weights_tolerant(eight, path)
    np.testing.assert_array_equal(np.asarray(eight.level_norm.running_mean)[:6],
                                  np.linspace(0.6, 3.9, 6).astype(np.float32))
    assert list(np.asarray(eight.level_norm.seen)) == [1] * 6 + [0] * 2
    with pytest.raises(ValueError, match="never dropped"):
        load_weights_tolerant(_model(5), path)


def test_the_new_levels_round_trip_through_the_bitstream_each_finer_and_dearer_than_the_last(tmp_path):
    path = tmp_path / "six.weights.h5"
    # The untrained analysis gives |y| < 1: gains from ~e² up give every level non-zero symbols.
    _six_level_weights(path, exact_inverse=True, lowest=2.0)
    eight = _model(8)
    load_weights_tolerant(eight, path)
    loaded = coder.wrap_model("mscae-tiny", eight)
    image = coder.synthetic_images(1, 128)[0]
    session = coder.EncoderSession(loaded, image)
    y = session.analysis()
    sizes, errors = [], []
    for level in range(8):
        data = session.encode(100 * level / 7)  # quality 0–100 spans all 8 levels
        assert coder.read_header(data).quality == pytest.approx(level)
        assert coder.decode(data, loaded).shape == image.shape
        sizes.append(len(data))
        # What the synthesis transform sees, ŷ·igain, against the analysis' y.
        gain, igain = eight.gains_for_quality(level)
        compressed = eight.compress(None, level, analysis=y)
        y_hat = decode_latents(eight.tables, compressed.strings, compressed.shape, BAND_ROWS)
        errors.append(float(np.mean(np.square(y_hat * igain - y))))
        # Rounding to the grid: never more than half a step (1/gain) per channel.
        assert np.all(np.abs(y_hat * igain - y).max(axis=(0, 1)) <= 0.5 / gain * (1 + 1e-4))
    assert all(b > a for a, b in zip(sizes, sizes[1:])), sizes
    assert all(b < a for a, b in zip(errors, errors[1:])), errors


def test_the_codec_reads_its_level_count_from_the_weights_and_refuses_the_other_weights_files(tmp_path):
    six_path, eight_path = tmp_path / "w6" / "mscae-tiny.weights.h5", tmp_path / "w8" / "mscae-tiny.weights.h5"
    six_path.parent.mkdir()
    eight_path.parent.mkdir()
    coder.save_model(coder.wrap_model("mscae-tiny", _six_level_weights(tmp_path / "start.weights.h5")), six_path)
    eight = _model(8)
    load_weights_tolerant(eight, six_path)
    coder.save_model(coder.wrap_model("mscae-tiny", eight), eight_path)
    old, new = coder.load_model("mscae-tiny", six_path), coder.load_model("mscae-tiny", eight_path)
    assert (old.num_levels, new.num_levels) == (6, 8)
    image = coder.synthetic_images(1, 64)[0]
    old_file = coder.encode(old, image, 100)
    assert coder.read_header(old_file).quality == pytest.approx(5)
    assert coder.decode(old_file, old).shape == image.shape
    with pytest.raises(BitstreamError, match="recompress_learned"):
        coder.decode(old_file, new)
    with pytest.raises(BitstreamError, match="recompress_learned"):
        coder.decode(coder.encode(new, image, 100), old)


def test_a_run_resumed_with_more_levels_keeps_the_old_references_and_starts_a_fresh_best(tmp_path):
    keras.utils.set_random_seed(5)
    folder = photo_folder(tmp_path / "photos", 2, 64, 64)
    run = tmp_path / "run"
    kwargs = dict(model_name="mscae-tiny", run_dir=run, folders=[str(folder)], epochs=1, steps_per_epoch=1,
                  batch_size=8, crop=64, verbose=0, log=lambda *_: None)
    first = json.loads(json.dumps(train(**kwargs)))
    assert len(first["val_norm"]) == 6 and num_levels_in(run / "latest.weights.h5") == 6
    shipped = tmp_path / "weights" / "mscae-tiny.weights.h5"
    state = train(num_levels=8, export_to=str(shipped), **kwargs)
    assert state["val_norm"][:6] == first["val_norm"] and len(state["val_norm"]) == 8
    # The export's hints name a quality per level, 0 to 100 over all 8.
    sidecar = json.loads(shipped.with_suffix("").with_suffix(".json").read_text())
    assert sidecar["num_levels"] == 8 and sidecar["lambdas"] == list(LAMBDAS)
    assert [q for _, q in LearnedCodec(weights_path=shipped).psnr_hints] == [round(100 * k / 7, 2) for k in range(8)]
    assert state["best_epoch"] == 2 and len(state["best_levels"]["bpp"]) == 8
    assert num_levels_in(run / "best.weights.h5") == num_levels_in(run / "latest.weights.h5") == 8
    with open(run / "levels.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and "bpp7" in rows[0] and np.isfinite(float(rows[0]["psnr7"]))
    with open(run / "levels-6.csv") as fh:
        assert "bpp5" in next(csv.reader(fh)) and len(fh.readlines()) == 1
    assert len(train(**kwargs)["val_norm"]) == 8  # a plain resume keeps the run's 8 levels
    with pytest.raises(ValueError, match="drop"):
        train(num_levels=6, **kwargs)
