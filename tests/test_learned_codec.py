"""The learned codec with a tiny, untrained model: bitstream exactness, robustness, rate control."""
import json
import pickle

import numpy as np
import pytest

from compression.learned import bitstream, coder
from compression.learned.codec import LearnedCodec
from compression.learned.coding import pad
from compression.learned.models import build_model
from compression.learned.zoo import model_config
from compression.metrics import psnr
from compression.selection.modes import search_one
from compression.targets import parse_target

from .conftest import make_photo, photo_folder


def tiny(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    cfg = model_config("mscae-tiny")
    return coder.wrap_model("mscae-tiny", build_model(cfg["N"], cfg["M"], cfg["lambdas"]))


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.fixture(scope="module")
def image():
    return np.asarray(make_photo(96, 80, seed=3))


def test_decoder_reproduces_exactly_the_quantised_latents(model, image):
    padded = pad(image)
    compressed = model.model.compress(padded, model.knob(60))
    z_symbols, y_symbols = compressed.symbols
    seen = {}

    def check(z, y):
        seen["z"], seen["y"] = z, y

    model.model.decompress(compressed.strings, compressed.shape, model.knob(60), check=check)
    np.testing.assert_array_equal(seen["z"], z_symbols)
    np.testing.assert_array_equal(seen["y"], y_symbols)
    assert np.abs(y_symbols).max() > 0  # the test would be vacuous on all-zero latents


def test_decoded_image_has_the_original_size_and_is_deterministic(model, image):
    data = coder.encode(model, image, 40)
    first, second = coder.decode(data, model), coder.decode(data, model)
    assert first.shape == image.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)


def test_real_size_is_within_a_few_percent_of_the_model_estimate(model):
    padded = pad(np.asarray(make_photo(320, 256, seed=5)))
    compressed = model.model.compress(padded, model.knob(100))
    real_bits = 8 * sum(len(s) for s in compressed.strings)
    assert abs(real_bits - compressed.estimated_bits) / compressed.estimated_bits < 0.03


def test_files_still_decode_after_saving_and_reloading_the_weights(model, image, tmp_path):
    data = coder.encode(model, image, 70)
    path = tmp_path / "tiny.weights.h5"
    coder.save_model(model, path)
    reloaded = coder.load_model("mscae-tiny", path)
    assert reloaded.model is not model.model and reloaded.digest == model.digest
    np.testing.assert_array_equal(coder.decode(data, reloaded), coder.decode(data, model))


def test_a_rate_search_runs_the_analysis_transform_once_without_changing_any_file(model, image, monkeypatch):
    calls = []
    analysis = model.model.analysis
    monkeypatch.setattr(model.model, "analysis", lambda padded: calls.append(1) or analysis(padded))
    session = coder.EncoderSession(model, image)
    files = [session.encode(q) for q in (10, 50, 90)]
    assert len(calls) == 1  # one photo, one g_a, whatever the number of trials
    assert files == [coder.encode(model, image, q) for q in (10, 50, 90)]
    assert len(calls) == 4  # a plain encode is whole
    # The selector goes through the codec's session, which is the same thing.
    trials = LearnedCodec(loaded=model).session(image)
    assert trials(quality=50, fast=True) == files[1]


def test_a_file_from_other_weights_is_refused_with_a_clear_message(model, image):
    other = tiny(seed=1)
    data = coder.encode(other, image, 50)
    with pytest.raises(bitstream.BitstreamError, match="weights"):
        coder.decode(data, model)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: b"",
        lambda d: d[:5],
        lambda d: d[:-4],
        lambda d: d + b"\0\0\0\0",
        lambda d: b"PNG\x89" + d[4:],
        lambda d: d[:40] + bytes([d[40] ^ 0x10]) + d[41:],
        lambda d: d[:-9] + bytes([d[-9] ^ 0x01]) + d[-8:],
        lambda d: d[:4] + b"\x09" + d[5:],
    ],
    ids=["empty", "header-cut", "body-cut", "extra-bytes", "bad-magic", "header-bit", "payload-bit", "version"],
)
def test_corrupted_files_are_refused_cleanly(model, image, mutate):
    data = coder.encode(model, image, 50)
    with pytest.raises(bitstream.BitstreamError):
        coder.decode(mutate(data), model)


def test_arbitrary_payloads_in_a_valid_container_end_in_a_clean_error(model):
    rng = np.random.default_rng(0)
    for _ in range(30):
        z = rng.integers(0, 256, 4 * int(rng.integers(0, 8)), dtype=np.uint8).tobytes()
        y = rng.integers(0, 256, 4 * int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        header = bitstream.Header("mscae-tiny", model.digest, bytes(8), 2.0, 40, 70)
        with pytest.raises(bitstream.BitstreamError):
            coder.decode(bitstream.pack(header, z, y), model)


def test_a_decoder_that_recovers_other_symbols_than_the_encoder_wrote_refuses_the_file(model, image):
    header, z_string, y_string = bitstream.unpack(coder.encode(model, image, 50))
    forged = bitstream.pack(
        bitstream.Header(header.model, header.digest, bytes(8), header.quality, header.height, header.width),
        z_string, y_string,
    )
    with pytest.raises(bitstream.BitstreamError, match="symbols differ"):
        coder.decode(forged, model)


def test_headers_claiming_absurd_sizes_are_refused(model):
    header = bitstream.Header("mscae-tiny", model.digest, bytes(8), 1.0, 100_000, 100_000)
    with pytest.raises(bitstream.BitstreamError, match="out of range"):
        coder.decode(bitstream.pack(header, b"", b""), model)


def test_quality_knob_is_monotone_in_size(model, image):
    sizes = [len(coder.encode(model, image, q)) for q in (0, 20, 40, 60, 80, 100)]
    assert sizes == sorted(sizes)
    assert sizes[-1] > sizes[0]


def test_the_selectors_search_hits_a_bpp_target_of_the_learned_codec_within_5_percent(model):
    photo = make_photo(128, 128, seed=7)
    pixels = 128 * 128
    low = len(coder.encode(model, photo, 0)) * 8 / pixels
    high = len(coder.encode(model, photo, 100)) * 8 / pixels
    target = low + 0.6 * (high - low)
    trial = search_one(LearnedCodec(loaded=model), photo, parse_target(f"bpp:{target}"))
    achieved = len(trial.data) * 8 / pixels
    assert trial.meets and achieved <= target
    assert abs(achieved - target) / target <= 0.05


def test_the_selectors_search_reaches_a_psnr_target_of_the_learned_codec(model):
    photo = make_photo(64, 64, seed=8)
    pixels = np.asarray(photo)
    best = psnr(pixels, coder.decode(coder.encode(model, photo, 100), model))
    target = best - 0.5
    trial = search_one(LearnedCodec(loaded=model), photo, parse_target(f"psnr:{target}"))
    assert psnr(pixels, coder.decode(trial.data, model)) >= target
    assert trial.quality < 100


def test_images_with_alpha_are_refused_by_the_learned_codec(model):
    codec = LearnedCodec(loaded=model)
    with pytest.raises(ValueError, match="alpha"):
        codec.encode(make_photo(32, 32, mode="RGBA"), quality=50)


def test_cifar_loader_reads_the_standard_pickle_layout(tmp_path):
    rng = np.random.default_rng(0)
    expected = []
    for b in (1, 2):
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        expected.append(data)
        with open(tmp_path / f"data_batch_{b}", "wb") as fh:
            pickle.dump({b"data": data, b"labels": [0, 1, 2]}, fh)
    from compression.learned.data import load_cifar10

    images = load_cifar10(tmp_path)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    first = expected[0][0]
    # Rows are 1024 red values, then green, then blue, each row-major over 32×32.
    assert images[0, 0, 0].tolist() == [first[0], first[1024], first[2048]]
    assert images[0, 1, 2, 1] == first[1024 + 32 + 2]
    assert images[3, 31, 31, 2] == expected[1][0][3071]


def test_training_runs_on_cifar_images_smaller_than_the_model_granularity(tmp_path):
    from compression.learned.training import train

    rng = np.random.default_rng(1)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": [0] * 10}, fh)
    state = train(model_name="mscae-tiny", run_dir=tmp_path / "run", cifar=str(tmp_path), epochs=1,
                  steps_per_epoch=1, batch_size=2, verbose=0, log=lambda *_: None)
    # 32×32 images are padded to one 64-pixel unit, the smallest crop the model can tile.
    assert state["epoch"] == 1 and state["val_crop"] == 64 and np.isfinite(state["best_val"])


def test_training_writes_a_log_and_resumes_where_it_stopped(tmp_path):
    from PIL import Image

    from compression.learned.training import train

    folder = photo_folder(tmp_path / "photos", 4, 80, 72)
    kwargs = dict(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(folder)],
                  steps_per_epoch=2, batch_size=2, crop=64, verbose=0, log=lambda *_: None)
    train(epochs=1, **kwargs)
    shipped = tmp_path / "weights" / "mscae-tiny.weights.h5"
    state = train(epochs=1, export_to=str(shipped), **kwargs)  # one more epoch
    assert state["epoch"] == 2
    lines = (tmp_path / "run" / "log.csv").read_text().strip().splitlines()
    assert lines[0].split(",")[:4] == ["epoch", "bpp", "learning_rate", "loss"] and "psnr" in lines[0]
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]
    assert (tmp_path / "run" / "best.weights.h5").exists()
    assert Image.open(folder / "0.png").size == (80, 72)

    # The export ships the best weights with their calibration, which the codec reads.
    sidecar = json.loads(shipped.with_suffix("").with_suffix(".json").read_text())
    assert sidecar["model"] == "mscae-tiny" and sidecar["epochs"] == state["best_epoch"]
    qualities = [q for _, q in sidecar["psnr_hints"]]
    assert qualities == [0, 20, 40, 60, 80, 100]
    codec = LearnedCodec(weights_path=shipped)
    assert codec.psnr_hints == tuple(tuple(p) for p in sidecar["psnr_hints"])
    # Shipped weights hold the model only (no optimizer state), and a new run continues from them.
    assert shipped.stat().st_size < (tmp_path / "run" / "best.weights.h5").stat().st_size
    resumed = train(epochs=1, init_weights=str(shipped), **{**kwargs, "run_dir": tmp_path / "run2"})
    assert resumed["epoch"] == 3
    assert (tmp_path / "run2" / "log.csv").read_text().strip().splitlines()[-1].split(",")[0] == "2"
    # A validation loss on other crops is not comparable: a run from weights validated on 128-px
    # crops keeps its own best, even when the shipped loss looks unbeatable.
    assert sidecar["val_crop"] == 64
    shipped.with_suffix("").with_suffix(".json").write_text(
        json.dumps({**sidecar, "val_crop": 128, "best_val_loss": 0.0}))
    other = train(epochs=1, init_weights=str(shipped), **{**kwargs, "run_dir": tmp_path / "run3"})
    assert other["val_crop"] == 64 and other["best_epoch"] == 3 and other["best_val"] > 0


def test_bfloat16_training_ships_weights_the_float32_codec_decodes_and_an_explicit_lr_wins(tmp_path):
    from compression.learned.training import train

    folder = photo_folder(tmp_path / "photos", 3, 72, 72)
    kwargs = dict(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(folder)],
                  steps_per_epoch=2, batch_size=2, crop=64, warmup_steps=0, verbose=0, log=lambda *_: None)
    train(epochs=1, precision="mixed_bfloat16", **kwargs)
    # Resuming continues the run's learning rate unless one is given.
    state = train(epochs=1, precision="mixed_bfloat16", learning_rate=1e-5, **kwargs)
    assert state["learning_rate"] == pytest.approx(1e-5)
    lrs = [float(line.split(",")[2]) for line in (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]]
    assert lrs == [pytest.approx(3e-4), pytest.approx(1e-5)]

    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    model.load_weights(tmp_path / "run" / "best.weights.h5")
    loaded = coder.wrap_model("mscae-tiny", model)
    assert loaded.model.transform_dtype is None  # the codec itself always runs in float32
    photo = np.asarray(make_photo(64, 64, seed=9))
    decoded = coder.decode(coder.encode(loaded, photo, 50), loaded)
    assert decoded.shape == photo.shape and psnr(photo, decoded) > 5


def test_an_unknown_training_precision_is_refused_by_name(tmp_path):
    from compression.learned.training import train

    with pytest.raises(ValueError, match="'float8'"):
        train(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(tmp_path)], precision="float8")


def test_the_shipped_calibration_is_read_after_the_model_has_loaded(tmp_path, monkeypatch, settings):
    # A worker loads the model at start-up, before any search asks where to start.
    from compression.learned import codec as codec_module

    settings.CODEC_WEIGHTS_DIR = tmp_path
    hints = [[28.0, 0.0], [31.0, 50.0], [34.0, 100.0]]
    (tmp_path / "mscae.json").write_text(json.dumps({"psnr_hints": hints}))
    monkeypatch.setattr(codec_module, "load_model", lambda name, path: object())
    codec = LearnedCodec()
    codec.loaded
    assert codec.psnr_hints == tuple(tuple(p) for p in hints)
