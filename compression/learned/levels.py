"""The quality levels of a learned model: how many a weights file holds, and loading weights into
a model that has more levels than the file, or the training-only level normaliser the file lacks.

A model's K levels are its per-channel gains `log_gain` and `log_igain`, shape (K, M), with the
first K of `zoo.LAMBDAS`; K is read from the weights, so 6-level and 8-level weights both load.
Levels are only ever added at the top, so the levels a file has keep their index and their values:
before any training, the extended model computes at those levels exactly what the file's model did.

New levels start by extrapolation, per channel and linear in the level index on the log scale,
with the least-squares slope of the top `EXTRAPOLATION_FIT` trained levels. Consecutive λ differ
by a near-constant factor (~1.93), and at high rate the MSE-optimal quantisation step goes as
λ^(-1/2), so a trained model's log gains step by about half of Δlog λ per level, channel by
channel; the top levels' slope follows their own trend rather than that of the low-rate end.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from keras import ops

from .models import build_model, load_weights_without_context
from .zoo import level_lambdas

EXTRAPOLATION_FIT = 3


def num_levels_in(path) -> int:
    """The number of quality levels in a weights file (the rows of its log gains)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return int(fh["vars/0"].shape[0])  # the model's own first variable: log_gain, (K, M)
    except (OSError, KeyError, IndexError) as exc:
        raise ValueError(f"{str(path)!r} is not a learned model's weights file ({exc})") from None


def _has_level_norm(path) -> bool:
    import h5py

    with h5py.File(path, "r") as fh:
        return "level_normaliser" in fh.get("layers", {})


def extrapolate(values, num_levels: int, fit: int = EXTRAPOLATION_FIT) -> np.ndarray:
    """(K0, M) log gains -> (num_levels, M): the K0 rows unchanged, then each channel continues
    from its top level along the least-squares line through its top `fit` levels."""
    values = np.asarray(values, np.float64)
    k0 = values.shape[0]
    if num_levels < k0:
        raise ValueError(f"cannot drop trained levels ({k0} -> {num_levels})")
    top = values[-min(fit, k0):]
    index = np.arange(len(top)) - (len(top) - 1) / 2.0
    slope = (index[:, None] * (top - top.mean(axis=0))).sum(axis=0) / np.sum(index**2)
    steps = np.arange(1, num_levels - k0 + 1, dtype=np.float64)[:, None]
    return np.concatenate([values, values[-1] + steps * slope]).astype(np.float32)


def copy_weights(source, target) -> None:
    """Every variable of `source` into `target`, matched by path. Where the target has more
    levels, the gains are extrapolated and the level normaliser's state is copied for the
    levels the source has (the new ones start unseen); a target without a level normaliser
    ignores the source's. Anything else that does not fit is an error."""
    def key(var, owner):  # paths start with the model's own (uniquified) name
        return var.path.removeprefix(owner.name + "/")

    def training_only(name):
        return name.startswith("level_norm/")

    targets = {key(v, target): v for v in target.weights}
    missing = [name for name in (key(v, source) for v in source.weights)
               if name not in targets and not (target.level_norm is None and training_only(name))]
    if missing:
        raise ValueError(f"the weights do not fit the model: no place for {missing[:3]}")
    for var in source.weights:
        dest = targets.get(key(var, source))
        if dest is None:
            continue
        value = ops.convert_to_numpy(var)
        if value.shape != tuple(dest.shape):
            if var is source.log_gain or var is source.log_igain:
                value = extrapolate(value, dest.shape[0])
            elif training_only(key(var, source)) and value.shape[0] < dest.shape[0]:
                value = np.concatenate([value, ops.convert_to_numpy(dest)[value.shape[0]:]])
            else:
                raise ValueError(f"the weights do not fit the model: {key(var, source)} is {value.shape}, "
                                 f"the model's {tuple(dest.shape)}")
        dest.assign(value)


def load_weights_tolerant(model, path) -> None:
    """Load weights into `model` when the file has fewer quality levels than the model (the new
    ones extrapolated, see the module docstring), or lacks the training-only `level_norm` (the
    shipped weights), or the context layers (the first mscae: they start switched off). Keras
    refuses such files, so they load into a model shaped like the file and are copied over."""
    path = Path(path)
    file_levels = num_levels_in(path)
    if file_levels > model.num_levels:
        raise ValueError(f"{str(path)!r} has {file_levels} quality levels and this model {model.num_levels}: "
                         "trained levels are never dropped")
    try:
        model.load_weights(path)
        return
    except ValueError:
        if model.level_norm is None and file_levels == model.num_levels:
            raise
    source = build_model(model.N, model.M, level_lambdas(file_levels),
                         normalise_levels=_has_level_norm(path))
    try:
        source.load_weights(path)
    except ValueError:
        load_weights_without_context(source, path)
    copy_weights(source, model)
