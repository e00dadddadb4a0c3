"""The training recipe on the tiny model: stratified levels, per-level loss normalisation, real
scale augmentation, every-level validation, the explicit schedule with its `finish` file, and
the moving average of the weights as what gets exported."""
import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compression.learned import coder
from compression.learned import data as data_mod
from compression.learned.models import LevelNormaliser, build_model
from compression.learned.training import Schedule, choose_precision, decayed_lr, load_weights_tolerant, train
from compression.learned.zoo import model_config

from .conftest import photo_folder

SHIPPED = Path(__file__).resolve().parent.parent / "compression" / "weights" / "mscae.weights.h5"


@pytest.mark.parametrize("batch_size", [4, 6, 8, 13])
def test_every_level_appears_floor_or_ceil_of_b_over_k_times_and_the_extra_ones_vary(batch_size):
    rng, k = np.random.default_rng(0), 6
    extra_levels = set()
    for _ in range(200):
        counts = np.bincount(data_mod.stratified_levels(rng, batch_size, k), minlength=k)
        assert counts.sum() == batch_size
        assert set(counts) <= {batch_size // k, -(-batch_size // k)}
        extra_levels |= set(np.flatnonzero(counts > batch_size // k))
    assert extra_levels == (set(range(k)) if batch_size % k else set())


def test_training_batches_carry_stratified_levels(tmp_path):
    images = [np.zeros((80, 80, 3), np.uint8)] * 3
    dataset = data_mod.CropDataset(images, crop=64, batch_size=8, steps=4, num_levels=6)
    for i in range(4):
        assert sorted(np.bincount(dataset[i]["level"], minlength=6)) == [1, 1, 1, 1, 2, 2]


def test_crop_scale_is_uniform_over_the_achievable_part_of_half_to_one():
    rng = np.random.default_rng(1)
    big = np.array([data_mod.crop_scale(rng, 256, 1080) for _ in range(4000)])
    assert big.min() == pytest.approx(0.5, abs=0.01) and big.max() == pytest.approx(1.0, abs=0.01)
    assert np.mean(big < 0.75) == pytest.approx(0.5, abs=0.03)  # uniform: half below the midpoint
    bsds = np.array([data_mod.crop_scale(rng, 256, 321) for _ in range(2000)])
    assert bsds.min() >= 256 / 321 and bsds.min() == pytest.approx(256 / 321, abs=0.01)
    assert data_mod.crop_scale(rng, 256, 200) == 1.0  # smaller than a crop: padded, never upscaled


def test_photos_are_downscaled_by_two_at_load(tmp_path):
    folder = photo_folder(tmp_path / "photos", 2, 80, 72)
    assert [im.shape for im in data_mod.load_folder([folder], downscale=2)] == [(36, 40, 3)] * 2
    assert data_mod.load_folder([folder])[0].shape == (72, 80, 3)


def test_the_level_normaliser_divides_each_level_by_its_running_mean_and_learns_nothing():
    norm = LevelNormaliser(3, momentum=0.5)
    rd = np.array([1.0, 1.2, 5.0, 4.0], np.float32)  # level 2 costs ~4x level 0
    level = np.array([0, 0, 2, 2], np.int32)
    out = np.asarray(norm(rd, level, training=True))
    # The first batch seeds each level's mean, and an absent level keeps its placeholder.
    assert np.asarray(norm.running_mean).tolist() == pytest.approx([1.1, 1.0, 4.5])
    assert out.tolist() == pytest.approx([1 / 1.1, 1.2 / 1.1, 5 / 4.5, 4 / 4.5])
    norm(np.array([2.1, 2.0], np.float32), np.array([0, 1], np.int32), training=True)
    assert np.asarray(norm.running_mean).tolist() == pytest.approx([0.5 * 1.1 + 0.5 * 2.1, 2.0, 4.5])
    # Validation reads the means without moving them; they are never trained.
    before = np.asarray(norm.running_mean).copy()
    norm(rd, level, training=False)
    assert np.asarray(norm.running_mean).tolist() == before.tolist() and not norm.trainable_weights


def test_validation_scores_every_crop_at_every_level():
    images = [np.full((70, 90, 3), i * 40, np.uint8) for i in range(5)]
    val = data_mod.validation_batches(images, crop=64, num_levels=6, limit=4)
    assert val["image"].shape == (24, 64, 64, 3)
    for crop in range(4):
        rows = slice(6 * crop, 6 * crop + 6)
        assert val["level"][rows].tolist() == list(range(6))
        assert np.all(val["image"][rows] == crop * 40 / 255.0)


def test_the_learning_rate_is_constant_then_decays_by_cosine_to_a_tenth_over_the_last_15_percent():
    base = 1e-3
    assert decayed_lr(base, 0, 85, 100) == base and decayed_lr(base, 85, 85, 100) == base
    assert decayed_lr(base, 92.5, 85, 100) == pytest.approx(base * 0.55)  # cosine midpoint
    assert decayed_lr(base, 100, 85, 100) == pytest.approx(base * 0.1)
    assert decayed_lr(base, 130, 85, 100) == pytest.approx(base * 0.1)
    values = [decayed_lr(base, t, 85, 100) for t in np.linspace(85, 100, 31)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def _schedule(tmp_path, clock, **kwargs):
    schedule = Schedule(1e-3, run_dir=tmp_path, steps_per_epoch=10, decay_s=600, now=lambda: clock[0], **kwargs)
    model = SimpleNamespace(optimizer=SimpleNamespace(learning_rate=None), stop_training=False, synced_at=[])
    # As the JAX trainer: its state must be handed back before a variable changes.
    model.jax_state_sync = lambda: model.synced_at.append(model.optimizer.learning_rate)
    schedule.set_model(model)
    return schedule, model


def test_a_time_limited_run_decays_over_its_last_15_percent_and_stops_at_its_end(tmp_path):
    clock = [0.0]
    schedule, model = _schedule(tmp_path, clock, time_limit_s=1000, total_steps=10**6)
    for t, expected in [(0, 1e-3), (849, 1e-3), (925, 0.55e-3), (999, 0.1e-3)]:
        clock[0] = t
        schedule.on_train_batch_begin(0)
        schedule.on_train_batch_end(0)
        assert model.optimizer.learning_rate == pytest.approx(expected, rel=0.01) and not model.stop_training
    clock[0] = 1000
    schedule.on_train_batch_end(0)
    assert model.stop_training
    # One sync before each change of rate, none while it stays put.
    assert model.synced_at == [None, 1e-3, pytest.approx(0.55e-3, rel=0.01)]


def test_without_a_time_limit_the_run_is_epochs_times_steps(tmp_path):
    schedule, model = _schedule(tmp_path, [0.0], time_limit_s=None, total_steps=100)
    schedule.on_epoch_begin(8)  # global step 80: still constant
    assert model.optimizer.learning_rate == 1e-3
    schedule.on_epoch_begin(9)  # step 90 of 100: a third into the decay
    assert 0.1e-3 < model.optimizer.learning_rate < 1e-3


def test_the_epochs_of_a_resumed_run_count_from_its_start(tmp_path):
    """Resumed at epoch 131 for 10 epochs of 10 steps: the decay covers this process's last 15 steps,
    not a phantom run from epoch 0 (which would put all of it deep in the decay)."""
    schedule, model = _schedule(tmp_path, [0.0], time_limit_s=None, total_steps=100, first_epoch=131)
    schedule.on_epoch_begin(131)
    assert model.optimizer.learning_rate == 1e-3
    schedule.on_epoch_begin(139)  # step 80 of this process's 100
    assert model.optimizer.learning_rate == 1e-3
    schedule.on_epoch_begin(140)
    assert 0.1e-3 < model.optimizer.learning_rate < 1e-3


def test_a_run_that_does_not_ship_keeps_its_rate_until_told_to_finish(tmp_path):
    clock = [0.0]
    schedule, model = _schedule(tmp_path, clock, time_limit_s=1000, total_steps=100, decay=False)
    for t in (0, 900, 999):
        clock[0] = t
        schedule.on_train_batch_begin(0)
        assert model.optimizer.learning_rate == 1e-3
    (tmp_path / "finish").touch()
    clock[0] = 999.5
    schedule.on_train_batch_begin(1)
    clock[0] = 999.5 + 300  # half of the finish decay
    schedule.on_train_batch_begin(2)
    assert model.optimizer.learning_rate == pytest.approx(0.55e-3)


def test_train_refuses_epochs_that_would_train_nothing(tmp_path):
    with pytest.raises(ValueError, match="--epochs 0"):
        train(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[], epochs=0, log=lambda *_: None)


@pytest.mark.parametrize("flags, gpu, expected", [
    ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", False, "mixed_bfloat16"),
    ("fpu sse2 avx2 fma", False, "float32"),
    ("fpu sse2 avx2 avx512f avx512bw", False, "float32"),  # AVX-512 without BF16: emulated
    ("fpu sse2 avx2 fma", True, "mixed_bfloat16"),
])
def test_precision_is_bfloat16_only_where_it_runs_natively(flags, gpu, expected):
    assert choose_precision(f"processor\t: 0\nflags\t\t: {flags}\n", gpu=gpu) == expected


def test_a_finish_file_starts_the_decay_at_once_and_ends_the_run_after_it(tmp_path):
    clock = [100.0]
    schedule, model = _schedule(tmp_path, clock, time_limit_s=None, total_steps=10**6)
    schedule.on_train_batch_begin(0)
    assert model.optimizer.learning_rate == 1e-3
    (tmp_path / "finish").touch()
    schedule.on_train_batch_begin(1)
    schedule.on_train_batch_end(1)
    assert model.optimizer.learning_rate == pytest.approx(1e-3) and not model.stop_training
    clock[0] = 400.0  # half of the 600-s decay
    schedule.on_train_batch_begin(2)
    assert model.optimizer.learning_rate == pytest.approx(0.55e-3)
    clock[0] = 700.0
    schedule.on_train_batch_end(2)
    assert model.stop_training


def test_the_shipped_weights_load_into_the_training_model_and_keep_their_digest():
    training_model = build_model(**{k: model_config("mscae")[k] for k in ("N", "M", "lambdas")},
                                 normalise_levels=True)
    with pytest.raises(ValueError):
        training_model.load_weights(SHIPPED)  # Keras refuses a file without the level normaliser
    load_weights_tolerant(training_model, SHIPPED)
    shipped = coder.load_model("mscae", SHIPPED)
    for got, want in zip(training_model.trainable_weights, shipped.model.trainable_weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    sidecar = json.loads(SHIPPED.with_suffix("").with_suffix(".json").read_text())
    assert shipped.digest.hex() == sidecar["weights_digest"]  # old files still decode


def _trainable(path):
    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    model.load_weights(path)
    return np.concatenate([np.ravel(w) for w in model.trainable_weights])


def test_the_export_ships_the_moving_average_of_the_weights_and_validation_logs_every_level(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    cfg = model_config("mscae-tiny")
    start = tmp_path / "start.weights.h5"
    build_model(cfg["N"], cfg["M"], cfg["lambdas"]).save_weights(start)  # no level normaliser in it
    folder = photo_folder(tmp_path / "photos", 3, 72, 72)
    shipped = tmp_path / "weights" / "mscae-tiny.weights.h5"
    state = train(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(folder)], epochs=1,
                  steps_per_epoch=8, batch_size=6, crop=64, init_weights=str(start), export_to=str(shipped),
                  verbose=0, log=lambda *_: None)
    w0, raw, exported = _trainable(start), _trainable(tmp_path / "run" / "latest.weights.h5"), _trainable(shipped)
    # With momentum 0.999 the average of 8 steps sits next to the first step, the raw weights 8 steps on.
    assert np.linalg.norm(exported - w0) < 0.5 * np.linalg.norm(raw - w0)
    np.testing.assert_array_equal(exported, _trainable(tmp_path / "run" / "best.weights.h5"))

    with open(tmp_path / "run" / "levels.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and [f"bpp{k}" in rows[0] and f"psnr{k}" in rows[0] for k in range(6)] == [True] * 6
    assert all(np.isfinite(float(rows[0][f"psnr{k}"])) for k in range(6))
    # The first validation is the run's reference, so its normalised loss is 1 by construction.
    assert float(rows[0]["val_loss"]) == pytest.approx(1.0) and state["best_epoch"] == 1
    assert len(state["val_norm"]) == 6 and state["base_lr"] == pytest.approx(3e-4)


def test_a_resumed_run_carries_the_moving_average_on_instead_of_restarting_it_from_the_raw_weights(tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    cfg = model_config("mscae-tiny")
    start = tmp_path / "start.weights.h5"
    build_model(cfg["N"], cfg["M"], cfg["lambdas"]).save_weights(start)
    run = tmp_path / "run"
    common = dict(model_name="mscae-tiny", run_dir=run, folders=[str(photo_folder(tmp_path / "photos", 3, 72, 72))],
                  batch_size=6, crop=64, warmup_steps=0, epochs=1, verbose=0, log=lambda *_: None)
    train(**common, steps_per_epoch=8, init_weights=str(start))
    average = _trainable(run / "average.weights.h5")
    assert np.linalg.norm(_trainable(run / "latest.weights.h5") - average) > 0

    state = train(**common, steps_per_epoch=1)  # the resume's only step, then its validation
    assert state["epoch"] == 2
    carried, raw = _trainable(run / "average.weights.h5"), _trainable(run / "latest.weights.h5")
    np.testing.assert_allclose(carried, average, rtol=0, atol=1e-6)
    # Re-seeded, the average would have been the raw weights after that step.
    assert np.linalg.norm(raw - average) > 100 * np.linalg.norm(carried - average) + 1e-4


def test_a_bfloat16_run_validates_its_weights_in_float32_as_the_codec_runs_them(tmp_path):
    import keras

    from compression.learned.training import score_levels

    keras.utils.set_random_seed(6)
    folder = photo_folder(tmp_path / "photos", 2, 64, 64)
    state = train(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(folder)], val_folders=[str(folder)],
                  epochs=1, steps_per_epoch=2, batch_size=6, crop=64, precision="mixed_bfloat16", verbose=0,
                  log=lambda *_: None)
    with open(tmp_path / "run" / "levels.csv") as fh:
        row = next(csv.DictReader(fh))
    cfg = model_config("mscae-tiny")
    val = data_mod.validation_batches(data_mod.load_folder([folder]), crop=64, num_levels=6)
    scores = {}
    for dtype in (None, "mixed_bfloat16"):
        model = build_model(cfg["N"], cfg["M"], cfg["lambdas"], transform_dtype=dtype, normalise_levels=True)
        model(val, training=False)
        model.load_weights(tmp_path / "run" / "best.weights.h5")
        scores[dtype] = score_levels(model, val)
    logged = {name: [float(row[f"{name}{k}"]) for k in range(6)] for name in ("bpp", "psnr")}

    def matches(dtype):  # to the rounding of levels.csv
        return all(np.allclose(logged[name], scores[dtype][name], rtol=0, atol=tol)
                   for name, tol in (("bpp", 6e-5), ("psnr", 6e-4)))

    assert matches(None) and not matches("mixed_bfloat16")
    assert state["best_epoch"] == 1


def test_a_run_directory_from_before_the_recipe_resumes_at_the_base_rate_with_a_fresh_best(tmp_path):
    cfg = model_config("mscae-tiny")
    run = tmp_path / "run"
    run.mkdir()
    build_model(cfg["N"], cfg["M"], cfg["lambdas"]).save_weights(run / "latest.weights.h5")  # no level_norm
    # The old recipe's state: a plateau-cut rate and a best loss on another scale.
    (run / "state.json").write_text(json.dumps({"model": "mscae-tiny", "epoch": 4, "learning_rate": 3e-6,
                                                "best_val": 0.01, "best_epoch": 4, "val_crop": 64}))
    folder = photo_folder(tmp_path / "photos", 2, 64, 64)
    state = train(model_name="mscae-tiny", run_dir=run, folders=[str(folder)], epochs=1, steps_per_epoch=1,
                  batch_size=2, crop=64, verbose=0, log=lambda *_: None)
    assert state["epoch"] == 5 and state["best_epoch"] == 5 and state["base_lr"] == pytest.approx(3e-4)
    assert (run / "best.weights.h5").exists()


def test_train_codec_refuses_a_missing_photos_folder_by_name(tmp_path):
    from django.core.management import CommandError, call_command

    folder = photo_folder(tmp_path / "photos", 1, 64, 64)
    with pytest.raises(CommandError, match="nowhere"):
        call_command("train_codec", "--model", "mscae-tiny", "--data", str(folder),
                     "--photos", str(tmp_path / "nowhere"), "--run-dir", str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_every_run_warms_the_rate_up_linearly_before_the_constant_phase(tmp_path):
    schedule, model = _schedule(tmp_path, [0.0], time_limit_s=None, total_steps=10**6, warmup_steps=100)
    schedule.on_epoch_begin(50)  # a resumed run: the global step is far past any warm-up
    rates = []
    for _ in range(120):
        schedule.on_train_batch_begin(0)
        rates.append(model.optimizer.learning_rate)
        schedule.on_train_batch_end(0)
    assert rates[0] == pytest.approx(1e-5) and rates[49] == pytest.approx(0.5e-3, rel=0.02)
    assert all(a <= b for a, b in zip(rates, rates[1:]))
    assert rates[99] == rates[119] == 1e-3


def test_the_entropy_only_phase_leaves_the_transforms_and_gains_as_they_were(tmp_path):
    import keras

    keras.utils.set_random_seed(4)
    cfg = model_config("mscae-tiny")
    start = tmp_path / "start.weights.h5"
    build_model(cfg["N"], cfg["M"], cfg["lambdas"]).save_weights(start)
    folder = photo_folder(tmp_path / "photos", 3, 72, 72)
    train(model_name="mscae-tiny", run_dir=tmp_path / "run", folders=[str(folder)], epochs=1, steps_per_epoch=4,
          batch_size=6, crop=64, init_weights=str(start), entropy_only=True, warmup_steps=0, verbose=0,
          log=lambda *_: None)

    def parts(path):
        model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
        model.load_weights(path)
        frozen = [np.asarray(w) for w in (*model.g_a.weights, *model.g_s.weights, model.log_gain, model.log_igain)]
        trained = [np.asarray(w) for w in (*model.h_s.weights, *model.ep0.weights, *model.context_conv.weights)]
        return frozen, trained

    frozen0, trained0 = parts(start)
    frozen1, trained1 = parts(tmp_path / "run" / "latest.weights.h5")
    for a, b in zip(frozen0, frozen1):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(trained0, trained1))
