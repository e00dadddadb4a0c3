"""Training of the learned codec (`python manage.py train_codec`).

The recipe (docs/training/README.md has the commands and the history):

* Adam at 3e-4 with gradient clipping (GDN codecs trained with Adam are unstable at high rates;
  8e-4 tripled our training loss within an epoch), and an exponential moving average of the
  weights (`use_ema`, momentum 0.999): the averaged weights are what validation scores, what
  `best.weights.h5` holds and what `--export` ships; `latest.weights.h5` keeps the raw weights to
  resume from and `average.weights.h5` the average, which a resumed run carries on (Keras would
  re-seed it from the raw weights, and the first validation after a resume cost +0.27 %).
* An explicit schedule: constant; a run that exports (ships) ends with a cosine decay to x0.1
  over its last 15 % (of `time_limit_s`, or of this process's epochs x steps). A stretch of a
  long-lived run that does not ship stays constant: a decay there would be undone by the next
  resume's warm-up. A file named `finish` in the run directory starts the decay at once (over
  `decay_minutes`), then the run stops (and exports when asked).
  Every process starts with a linear warm-up over `warmup_steps`: the weights files hold no
  Adam moments, and a fresh Adam at full rate cost ~3 % BD-rate for ~800 steps (r5).
* Precision: the transforms train in bfloat16 where it runs natively (`choose_precision`; 1.6x
  faster a step on an AVX512-BF16 CPU), and validation always runs float32, as the codec does.
* Quality levels are stratified within each batch and each level's R + λ·D is divided by its
  running mean (`LevelNormaliser`), so low-rate levels weigh as much as high-rate ones.
* Random 256x256 crops at a scale uniform over the achievable part of 0.5–1.0 (the codec is
  fully convolutional, so it then runs on any size); BSDS500 train+val plus large photographs
  downscaled x2 at load train, the first 24 photos of BSDS500 test validate, each at every level.

A run directory holds `latest.weights.h5` + `average.weights.h5` + `state.json` (resumable), `best.weights.h5`,
`log.csv` (training loss, raw R + λ·D, bpp, PSNR, validation loss, learning rate per epoch) and
`levels.csv` (validation bpp and PSNR per level per epoch, and a BD-rate proxy against the best
epoch before it).
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np

import keras

from . import coder
from . import data as data_mod
from ..bdrate import bd_rate
from ..metrics import psnr
from .coding import DOWNSAMPLING
from .averaging import CarryAverage, ema_weights
from .levels import load_weights_tolerant, num_levels_in
from .models import build_model
from .zoo import level_lambdas, model_config

DEFAULT_LEARNING_RATE = 3e-4
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
EMA_MOMENTUM = 0.999
DECAY_FRACTION = 0.15  # the last 15 % of a run decays the learning rate
FINAL_LR_FACTOR = 0.1
FINISH_FILE = "finish"
AVERAGE_FILE = "average.weights.h5"
WARMUP_STEPS = 300
VALIDATION_PHOTOS = 24


def choose_precision(cpuinfo: str | None = None, *, gpu: bool | None = None) -> str:
    """mixed_bfloat16 where bfloat16 runs natively (a GPU, or a CPU with AVX512-BF16), else
    float32: elsewhere bfloat16 is emulated, ~8x slower a step (docs/training)."""
    if gpu is None:
        import tensorflow as tf

        gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        return "mixed_bfloat16"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    return "mixed_bfloat16" if "avx512_bf16" in cpuinfo.split() else "float32"


def decayed_lr(base: float, t: float, decay_start: float, end: float) -> float:
    """Constant `base` until `decay_start`, then a cosine down to `base` x 0.1 at `end`."""
    if t <= decay_start or end <= decay_start:
        return base if t <= decay_start else base * FINAL_LR_FACTOR
    f = min(1.0, (t - decay_start) / (end - decay_start))
    return base * (FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * f)))


class Schedule(keras.callbacks.Callback):
    """The learning-rate schedule, on a clock of seconds (a time limit) or of global steps.

    A file named `finish` in the run directory switches to the seconds clock: the decay starts
    at once and lasts `decay_s`, then training stops (and the run exports). The rate is set
    before a batch whenever it has moved by 1 %; the JAX trainer trains on a copy of the state,
    so that copy is handed back first (a sync per change, none in the constant phase).

    The first `warmup_steps` of the process ramp the rate up linearly: Adam starts without
    moments (they are not saved), and its first bias-corrected steps at full rate undo training."""

    def __init__(self, base_lr: float, *, run_dir: Path, time_limit_s: float | None, total_steps: int,
                 steps_per_epoch: int, decay_s: float, warmup_steps: int = 0, first_epoch: int = 0,
                 decay: bool = True, now=time.time):
        super().__init__()
        self.base_lr, self.finish_path, self.decay_s, self.now = base_lr, run_dir / FINISH_FILE, decay_s, now
        self.steps_per_epoch, self.step, self.first_epoch = steps_per_epoch, 0, first_epoch
        self.warmup_steps, self.steps_run = warmup_steps, 0
        if time_limit_s:
            self.by_time, self.end = True, now() + time_limit_s
            self.decay_start = self.end - DECAY_FRACTION * time_limit_s if decay else math.inf
        else:
            self.by_time, self.end = False, float(total_steps)
            self.decay_start = (1 - DECAY_FRACTION) * total_steps if decay else math.inf
        self.finishing, self.last_lr = False, None

    def clock(self) -> float:
        return self.now() if self.by_time else float(self.step)

    def check_finish_file(self):
        if self.finishing or not self.finish_path.exists():
            return
        self.finishing = True
        now = self.now()
        if self.by_time and self.decay_start <= now and self.end - now <= self.decay_s:
            return  # already decaying, and ending sooner than a new decay would
        self.by_time, self.decay_start, self.end = True, now, now + self.decay_s

    def lr(self) -> float:
        warmup = min(1.0, (self.steps_run + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return warmup * decayed_lr(self.base_lr, self.clock(), self.decay_start, self.end)

    def set_lr(self):
        lr = self.lr()
        if self.last_lr is not None and abs(lr - self.last_lr) < 0.01 * self.last_lr:
            return
        sync = getattr(self.model, "jax_state_sync", None)  # only the JAX trainer has one
        if sync is not None:
            sync()
        self.model.optimizer.learning_rate = self.last_lr = lr

    def on_epoch_begin(self, epoch, logs=None):
        self.step = (epoch - self.first_epoch) * self.steps_per_epoch  # this process's steps
        self.set_lr()

    def on_train_batch_begin(self, batch, logs=None):
        self.check_finish_file()
        self.set_lr()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.steps_run += 1
        if self.by_time and self.now() >= self.end:
            self.model.stop_training = True


def float32_twin(model, val: dict):
    """The same model with its transforms in float32, built (its weights are copied in later)."""
    twin = build_model(model.N, model.M, model.lambdas, normalise_levels=True)
    twin({k: v[:1] for k, v in val.items()}, training=False)
    return twin


def score_levels(model, val: dict, *, batch_size: int = 8) -> dict:
    """Every validation crop at every level -> per-level mean bpp, PSNR (of the clipped
    reconstruction, as the decoder shows it) and raw R + λ·D."""
    outs = {"bpp": [], "psnr": [], "rd": []}
    for i in range(0, len(val["level"]), batch_size):
        batch = {k: v[i : i + batch_size] for k, v in val.items()}
        pred = model(batch, training=False)
        x_hat = np.clip(keras.ops.convert_to_numpy(pred["x_hat"]), 0.0, 1.0)
        mse = np.mean(np.square(x_hat - batch["image"]), axis=(1, 2, 3))
        outs["psnr"].append(-10 * np.log10(np.maximum(mse, 1e-10)))
        outs["bpp"].append(keras.ops.convert_to_numpy(pred["bpp"]))
        outs["rd"].append(keras.ops.convert_to_numpy(pred["rd"]))
    levels = val["level"]
    k = int(levels.max()) + 1
    return {name: [float(np.mean(np.concatenate(v)[levels == lv])) for lv in range(k)] for name, v in outs.items()}


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch: saves the raw weights to resume from, validates the moving-average
    weights at every level, keeps them as `best.weights.h5` when they are the best so far, and
    writes `levels.csv` and `state.json`.

    "Best" is the lowest validation loss, the mean over levels of each level's R + λ·D divided by
    a per-level reference fixed at the run's first validation (`state["val_norm"]`): like the
    training loss it weighs every level alike, and unlike the running means it does not move,
    so epochs compare. The BD-rate proxy against the previous best is logged beside it.

    `scorer`, for a run that trains in bfloat16: a float32 twin of the model that validates a copy
    of its weights, as the codec runs them; bfloat16 scores do not compare with float32 ones (r8)."""

    def __init__(self, run_dir: Path, state: dict, val: dict, scorer=None):
        super().__init__()
        self.run_dir, self.state, self.val, self.scorer = run_dir, state, val, scorer

    def score(self) -> dict:
        if self.scorer is None:
            return score_levels(self.model, self.val)
        self.scorer.set_weights(self.model.get_weights())
        return score_levels(self.scorer, self.val)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if not np.isfinite(logs.get("loss", 0.0)):
            return  # never overwrite good weights with a diverged state
        self.model.save_weights(self.run_dir / "latest.weights.h5", overwrite=True)
        with ema_weights(self.model):
            self.model.save_weights(self.run_dir / AVERAGE_FILE, overwrite=True)
            scores = self.score()
            norm = self.state.setdefault("val_norm", [])
            norm.extend(scores["rd"][len(norm):])  # levels added since then: their reference is now
            val_loss = float(np.mean(np.divide(scores["rd"], norm)))
            best_levels = self.state.get("best_levels")
            proxy = (bd_rate(best_levels["bpp"], best_levels["psnr"], scores["bpp"], scores["psnr"])
                     if best_levels else float("nan"))
            if np.isfinite(val_loss) and val_loss < self.state.get("best_val", float("inf")):
                self.state.update(best_val=val_loss, best_epoch=epoch + 1,
                                  best_levels={"bpp": scores["bpp"], "psnr": scores["psnr"]})
                self.model.save_weights(self.run_dir / "best.weights.h5", overwrite=True)
        self._write_levels(epoch, scores, val_loss, proxy)
        self.state["epoch"] = epoch + 1
        self.state["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs.update(val_loss=val_loss, val_bpp=float(np.mean(scores["bpp"])), val_psnr=float(np.mean(scores["psnr"])),
                    val_bd_proxy=proxy, learning_rate=self.state["learning_rate"])
        self.state["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (self.run_dir / "state.json").write_text(json.dumps(self.state, indent=2))

    def _write_levels(self, epoch, scores, val_loss, proxy):
        path = self.run_dir / "levels.csv"
        k = len(scores["bpp"])
        if path.exists():  # the levels were extended: the earlier rows keep their own columns
            with open(path) as fh:
                old_k = sum(name.startswith("bpp") for name in fh.readline().strip().split(","))
            if old_k != k:
                path.rename(path.with_name(f"levels-{old_k}.csv"))
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            out = csv.writer(fh)
            if new:
                out.writerow(["epoch", "val_loss", "bd_proxy_vs_best",
                              *[f"bpp{i}" for i in range(k)], *[f"psnr{i}" for i in range(k)]])
            out.writerow([epoch, f"{val_loss:.5f}", f"{proxy:.2f}", *[f"{v:.4f}" for v in scores["bpp"]],
                          *[f"{v:.3f}" for v in scores["psnr"]]])


def load_training_data(*, cifar: str | None, folders: list[str], val_folders: list[str],
                       photo_folders: list[str] = ()):
    if cifar:
        images = data_mod.load_cifar10(cifar)
        train, val = data_mod.split(images, val_fraction=0.1)
        return list(train), list(val)
    train = data_mod.load_folder(folders) if folders else []
    if photo_folders:
        train += data_mod.load_folder(photo_folders, downscale=2)
    if val_folders:
        return train, data_mod.load_folder(val_folders)
    return data_mod.split(train, val_fraction=0.1)


def train(
    *,
    model_name: str,
    run_dir: str | Path,
    cifar: str | None = None,
    folders: list[str] = (),
    val_folders: list[str] = (),
    photo_folders: list[str] = (),
    epochs: int = 1000,  # to run in this call, after the run's (or the weights') own epochs
    steps_per_epoch: int = 100,
    batch_size: int = 32,
    crop: int = 256,
    learning_rate: float | None = None,
    precision: str = "auto",
    init_weights: str | None = None,
    time_limit_s: float | None = None,
    decay_minutes: float = 15,
    warmup_steps: int = WARMUP_STEPS,
    ema_momentum: float = EMA_MOMENTUM,
    entropy_only: bool = False,
    num_levels: int | None = None,
    export_to: str | None = None,
    verbose: int = 1,
    log=print,
) -> dict:
    """`photo_folders` are large photographs, downscaled x2 at load (see data.load_folder).

    `entropy_only` freezes the transforms (g_a, g_s and the level gains) and trains the entropy
    model alone (hyperprior, checkerboard context, parameter network): each step is cheaper, and
    the context, added to an already trained model, catches up without moving the latents.

    `num_levels`: the quality levels to train, by default as many as the weights it starts from
    have (else the model's default); more extends them at the top (`levels.py`)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = model_config(model_name)
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if epochs < 1:
        raise ValueError(f"--epochs {epochs} trains nothing: it is the number of epochs to run now (at least 1)")
    if precision == "auto":
        precision = choose_precision()
    transform_dtype = None if precision == "float32" else precision
    latest = run_dir / "latest.weights.h5"
    start = latest if latest.exists() else init_weights
    trained_levels = num_levels_in(start) if start else None
    num_levels = num_levels or trained_levels or len(config["lambdas"])
    if trained_levels and num_levels < trained_levels:
        raise ValueError(f"{start} has {trained_levels} quality levels: {num_levels} would drop trained ones")
    model = build_model(config["N"], config["M"], level_lambdas(num_levels), transform_dtype=transform_dtype,
                        normalise_levels=True)

    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"model": model_name, "epoch": 0}
    if state.get("model", model_name) != model_name:
        raise ValueError(f"{run_dir} holds a run of {state['model']!r}, not {model_name!r}")
    resumed_lr, origin = None, None
    if (run_dir / "latest.weights.h5").exists():
        load_weights_tolerant(model, run_dir / "latest.weights.h5")  # runs from before the recipe lack level_norm
        resumed_lr = state.get("base_lr")
        origin = f"Resuming {model_name} from epoch {state['epoch']} (lr {{lr}})"
    elif init_weights:
        load_weights_tolerant(model, init_weights)
        # Shipped weights carry their history in a sidecar: continue the epoch count (Adam's
        # moments and the weight average start afresh). Their validation figures carry over only
        # when measured the same way.
        sidecar = Path(init_weights).with_suffix("").with_suffix(".json")
        if sidecar.exists():
            meta = json.loads(sidecar.read_text())
            state["epoch"] = int(meta.get("epochs") or 0)
            if meta.get("val_norm"):
                state.update(best_val=meta.get("best_val_loss", float("inf")), val_crop=meta.get("val_crop"),
                             val_norm=meta["val_norm"], best_levels=meta.get("best_levels"))
            resumed_lr = meta.get("base_lr")
        origin = f"Starting from weights {init_weights} (epoch {state['epoch']}, lr {{lr}})"
    # The base rate of the schedule: given, else the run's (never a decayed one), else the default.
    learning_rate = learning_rate or resumed_lr or DEFAULT_LEARNING_RATE
    state["base_lr"] = learning_rate
    if origin:
        log(origin.replace("{lr}", f"{learning_rate:g}"))
    if trained_levels and num_levels > trained_levels:
        log(f"Extending the quality levels from {trained_levels} to {num_levels} (lambda up to {model.lambdas[-1]:g}); "
            "the new levels' gains are extrapolated from the top ones")

    train_images, val_images = load_training_data(cifar=cifar, folders=list(folders), val_folders=list(val_folders),
                                                  photo_folders=list(photo_folders))
    # Crops are whole multiples of the model's down-sampling (so y and z tile them exactly) and
    # no larger than the smallest photo; smaller images (CIFAR) are padded up to one unit.
    smallest = min(min(im.shape[:2]) for im in train_images)
    crop = max(DOWNSAMPLING, min(crop, smallest) // DOWNSAMPLING * DOWNSAMPLING)
    log(f"Training on {len(train_images)} images, validating on {min(len(val_images), VALIDATION_PHOTOS)} "
        f"x {model.num_levels} levels; crops {crop}px; lr {learning_rate:g}; {precision}")
    initial_epoch = int(state.get("epoch", 0))
    dataset = data_mod.CropDataset(
        train_images, crop=crop, batch_size=batch_size, steps=steps_per_epoch, num_levels=model.num_levels,
        epoch=initial_epoch,  # a resumed run must not replay the crops it trained on
    )
    if state.get("val_crop", crop) != crop or "val_norm" not in state:
        # A loss on other validation crops, or one from before the per-level validation (no
        # reference), is not comparable: the best weights start afresh.
        for key in ("best_val", "val_norm", "best_levels"):
            state.pop(key, None)
    best_levels = state.get("best_levels")
    if best_levels and len(best_levels["bpp"]) != model.num_levels:
        # A best over fewer levels does not compare with a loss over more: the best starts afresh.
        # The trained levels keep their reference; the new ones get theirs at their first validation.
        for key in ("best_val", "best_levels"):
            state.pop(key, None)
        state["val_norm"] = state.get("val_norm", [])[: model.num_levels]
    state["val_crop"] = crop
    val = data_mod.validation_batches(val_images, crop=crop, num_levels=model.num_levels, limit=VALIDATION_PHOTOS)

    if entropy_only:
        model.g_a.trainable = model.g_s.trainable = False
        model.log_gain.trainable = model.log_igain.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0,
                                                  use_ema=True, ema_momentum=ema_momentum))
    (run_dir / FINISH_FILE).unlink(missing_ok=True)  # a finish request belongs to the run it ended
    callbacks = [
        Schedule(learning_rate, run_dir=run_dir, time_limit_s=time_limit_s, total_steps=epochs * steps_per_epoch,
                 steps_per_epoch=steps_per_epoch, decay_s=decay_minutes * 60, warmup_steps=warmup_steps,
                 first_epoch=initial_epoch, decay=export_to is not None),
        keras.callbacks.TerminateOnNaN(),
        RunCheckpoint(run_dir, state, val, scorer=float32_twin(model, val) if transform_dtype else None),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
    ]
    if start == latest and (run_dir / AVERAGE_FILE).exists():
        callbacks.append(CarryAverage(run_dir / AVERAGE_FILE))
    model.fit(dataset, epochs=initial_epoch + epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose)
    if export_to and (run_dir / "best.weights.h5").exists():
        export(run_dir=run_dir, dest=Path(export_to), model_name=model_name, val_images=val_images, state=state)
        log(f"Exported best weights (epoch {state.get('best_epoch')}) to {export_to}")
    return state


def calibrate(loaded, images, *, levels=None) -> list[tuple[float, float]]:
    """Mean PSNR at each trained level on validation photos -> [(PSNR dB, quality 0–100)], the
    selector's starting points for a PSNR target (never measured on the evaluation set)."""
    levels = levels or loaded.num_levels
    qualities = [100 * k / (levels - 1) for k in range(levels)]
    hints = []
    for q in qualities:
        values = [psnr(im, coder.decode(coder.encode(loaded, im, q), loaded)) for im in images]
        hints.append((round(float(np.mean(values)), 2), round(q, 2)))
    return hints


def export(*, run_dir: Path, dest: Path, model_name: str, val_images, state: dict, calibration_images: int = 16):
    """Ship the best weights, the moving average of the run's (model only: the run's files also
    hold Adam's moments, three times the size, and the training-only level normaliser) with a sidecar JSON that describes them and lets a new run continue from them."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    config = model_config(model_name)
    model = build_model(config["N"], config["M"], level_lambdas(num_levels_in(run_dir / "best.weights.h5")))
    model.load_weights(run_dir / "best.weights.h5")
    # The integer coding tables are made here, once, calibrated on validation photos; codecs
    # load them with the weights and never rebuild them (tables.py).
    photos = [np.asarray(im) for im in val_images[:calibration_images]]
    loaded = coder.wrap_model(model_name, model, calibration_images=photos)
    coder.save_model(loaded, dest)
    sidecar = {
        "model": model_name,
        "weights_digest": loaded.digest.hex(),
        "num_levels": model.num_levels,
        "lambdas": list(model.lambdas),
        "epochs": state.get("best_epoch"),
        "learning_rate": state.get("learning_rate"),
        "base_lr": state.get("base_lr"),
        "best_val_loss": state.get("best_val"),
        "val_crop": state.get("val_crop"),
        "val_norm": state.get("val_norm"),
        "best_levels": state.get("best_levels"),
        "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
        "psnr_hints": calibrate(loaded, [np.asarray(im) for im in val_images[:calibration_images]]),
    }
    dest.with_suffix("").with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
