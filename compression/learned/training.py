"""Training of the learned codec (`python manage.py train_codec`).

The paper's recipe is the default where it fits: Adam, learning rate reduced ×0.1 on plateau,
early stopping, batch 32, a 90/10 split for CIFAR-10. Where the codec needs otherwise:

* learning rate 3e-4 rather than 1e-3, with gradient clipping: GDN codecs trained with Adam are
  unstable at high rates (public ones use 1e-4); 8e-4 tripled our training loss within an epoch;
* photos are cut into random 256×256 crops (the codec is fully convolutional, so it then runs
  on any size; 128 crops leave the hyperprior a 2×2 map that is mostly padding); BSDS500
  train+val train, BSDS500 test validates (a held-out set, not a split).

A run directory holds `latest.weights.h5` + `state.json` (resumable: epoch, learning rate, best
validation loss), `best.weights.h5` and `log.csv` (loss, bpp, PSNR per epoch). `--export`
copies the best weights to the shipped path.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

import keras

from . import data as data_mod
from .models import DOWNSAMPLING, build_model
from .zoo import model_config

DEFAULT_LEARNING_RATE = 3e-4
PRECISIONS = ("float32", "mixed_bfloat16")


class RunCheckpoint(keras.callbacks.Callback):
    """Saves latest and best weights plus the state needed to resume, after every epoch."""

    def __init__(self, run_dir: Path, state: dict):
        super().__init__()
        self.run_dir, self.state = run_dir, state

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        val = logs.get("val_loss", logs.get("loss"))
        if val is None or not np.isfinite(val):
            return  # never overwrite good weights with a diverged state
        self.model.save_weights(self.run_dir / "latest.weights.h5", overwrite=True)
        if val < self.state.get("best_val", float("inf")):
            self.state["best_val"] = float(val)
            self.state["best_epoch"] = epoch + 1
            shutil.copyfile(self.run_dir / "latest.weights.h5", self.run_dir / "best.weights.h5")
        self.state["epoch"] = epoch + 1
        self.state["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.state["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (self.run_dir / "state.json").write_text(json.dumps(self.state, indent=2))


class TimeLimit(keras.callbacks.Callback):
    """Stops cleanly at an epoch boundary once the wall-clock budget is spent."""

    def __init__(self, seconds: float | None):
        super().__init__()
        self.deadline = time.time() + seconds if seconds else None

    def on_train_batch_end(self, batch, logs=None):
        if self.deadline and time.time() > self.deadline:
            self.model.stop_training = True


def load_training_data(*, cifar: str | None, folders: list[str], val_folders: list[str]):
    if cifar:
        images = data_mod.load_cifar10(cifar)
        train, val = data_mod.split(images, val_fraction=0.1)
        return list(train), list(val)
    train = data_mod.load_folder(folders)
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
    epochs: int = 1000,
    steps_per_epoch: int = 100,
    batch_size: int = 32,
    crop: int = 256,
    learning_rate: float | None = None,
    precision: str = "float32",
    plateau_patience: int = 6,
    early_stop_patience: int = 20,
    init_weights: str | None = None,
    time_limit_s: float | None = None,
    export_to: str | None = None,
    verbose: int = 1,
    log=print,
) -> dict:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = model_config(model_name)
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    transform_dtype = None if precision == "float32" else precision
    model = build_model(config["N"], config["M"], config["lambdas"], transform_dtype=transform_dtype)

    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"model": model_name, "epoch": 0}
    if state.get("model", model_name) != model_name:
        raise ValueError(f"{run_dir} holds a run of {state['model']!r}, not {model_name!r}")
    resumed_lr, origin = None, None
    if (run_dir / "latest.weights.h5").exists():
        model.load_weights(run_dir / "latest.weights.h5")
        resumed_lr = state.get("learning_rate")
        origin = f"Resuming {model_name} from epoch {state['epoch']} (lr {{lr}})"
    elif init_weights:
        model.load_weights(init_weights)
        # Shipped weights carry their history in a sidecar: continue the epoch count and the
        # learning-rate schedule where they stopped (Adam's moments start afresh).
        sidecar = Path(init_weights).with_suffix("").with_suffix(".json")
        if sidecar.exists():
            meta = json.loads(sidecar.read_text())
            state.update(epoch=int(meta.get("epochs") or 0), best_val=meta.get("best_val_loss", float("inf")),
                         val_crop=meta.get("val_crop"))
            resumed_lr = meta.get("learning_rate")
        origin = f"Starting from weights {init_weights} (epoch {state['epoch']}, lr {{lr}})"
    # The learning rate continues where the run (or the shipped weights) left it, unless given.
    learning_rate = learning_rate or resumed_lr or DEFAULT_LEARNING_RATE
    if origin:
        log(origin.replace("{lr}", f"{learning_rate:g}"))

    train_images, val_images = load_training_data(cifar=cifar, folders=list(folders), val_folders=list(val_folders))
    # Crops are whole multiples of the model's down-sampling (so y and z tile them exactly) and
    # no larger than the smallest photo; smaller images (CIFAR) are padded up to one unit.
    smallest = min(min(im.shape[:2]) for im in train_images)
    crop = max(DOWNSAMPLING, min(crop, smallest) // DOWNSAMPLING * DOWNSAMPLING)
    log(f"Training on {len(train_images)} images, validating on {len(val_images)}; crops {crop}px; "
        f"lr {learning_rate:g}; {precision}")
    dataset = data_mod.CropDataset(
        train_images, crop=crop, batch_size=batch_size, steps=steps_per_epoch, num_levels=model.num_levels,
        epoch=int(state.get("epoch", 0)),  # a resumed run must not replay the crops it trained on
    )
    if state.get("val_crop", crop) != crop:
        # A loss on other validation crops is not comparable: the best weights start afresh.
        state.pop("best_val", None)
    state["val_crop"] = crop
    val = data_mod.validation_batches(val_images, crop=crop, num_levels=model.num_levels)

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=1.0))
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=plateau_patience, min_lr=1e-6),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=early_stop_patience),
        RunCheckpoint(run_dir, state),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
        TimeLimit(time_limit_s),
    ]
    model.fit(
        dataset,
        validation_data=(val,),
        validation_batch_size=8,
        epochs=epochs,
        initial_epoch=int(state.get("epoch", 0)),
        callbacks=callbacks,
        verbose=verbose,
    )
    if export_to and (run_dir / "best.weights.h5").exists():
        export(run_dir=run_dir, dest=Path(export_to), model_name=model_name, val_images=val_images, state=state)
        log(f"Exported best weights (epoch {state.get('best_epoch')}) to {export_to}")
    return state


def calibrate(loaded, images, *, levels=None) -> list[tuple[float, float]]:
    """Mean PSNR at each trained level on validation photos -> [(PSNR dB, quality 0–100)], the
    selector's starting points for a PSNR target (never measured on the evaluation set)."""
    from . import codec as learned

    levels = levels or loaded.num_levels
    qualities = [100 * k / (levels - 1) for k in range(levels)]
    hints = []
    for q in qualities:
        values = [learned.psnr(im, learned.decode(learned.encode(loaded, im, q), loaded)) for im in images]
        hints.append((round(float(np.mean(values)), 2), round(q, 2)))
    return hints


def export(*, run_dir: Path, dest: Path, model_name: str, val_images, state: dict, calibration_images: int = 16):
    """Ship the best weights (model only: the run's files also hold Adam's moments, three times
    the size) with a sidecar JSON that describes them and lets a new run continue from them."""
    from . import codec as learned

    from .models import build_model

    dest.parent.mkdir(parents=True, exist_ok=True)
    config = model_config(model_name)
    model = build_model(config["N"], config["M"], config["lambdas"])
    model.load_weights(run_dir / "best.weights.h5")
    # The integer coding tables are made here, once, calibrated on validation photos; codecs
    # load them with the weights and never rebuild them (tables.py).
    photos = [np.asarray(im) for im in val_images[:calibration_images]]
    loaded = learned.wrap_model(model_name, model, calibration_images=photos)
    learned.save_model(loaded, dest)
    sidecar = {
        "model": model_name,
        "weights_digest": loaded.digest.hex(),
        "epochs": state.get("best_epoch"),
        "learning_rate": state.get("learning_rate"),
        "best_val_loss": state.get("best_val"),
        "val_crop": state.get("val_crop"),
        "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
        "psnr_hints": calibrate(loaded, [np.asarray(im) for im in val_images[:calibration_images]]),
    }
    dest.with_suffix("").with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
