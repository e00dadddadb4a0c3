"""The context benchmark behind `benchmark_context`: what the checkerboard context and the
entropy-parameter network are worth to the trained model, on the float model's own rate (its
likelihoods' bits, so the three variants share one reconstruction and differ only in the prior).

Per image and trained level, bpp with the model as trained, with the context switched off (the
5×5 context convolution's output zeroed: the non-anchor half then gets the anchors' parameters,
hyperprior + parameter network) and with the whole parameter network off (its last layer zeroed:
the mean-scale hyperprior alone). The variants are made on copies of the weights in memory; the
loaded model is restored before returning, so nothing else sees them.
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np
from PIL import Image

from compression.learned.coding import pad

VARIANTS = ("trained", "no_context", "hyperprior_only")


@contextlib.contextmanager
def _zeroed(layer):
    saved = [w.copy() for w in layer.get_weights()]
    layer.set_weights([np.zeros_like(w) for w in saved])
    try:
        yield
    finally:
        layer.set_weights(saved)


def _switch(model, variant):
    if variant == "no_context":
        return _zeroed(model.context_conv)
    if variant == "hyperprior_only":
        return _zeroed(model.ep1)
    return contextlib.nullcontext()


def run(model, paths, *, on_image=None) -> dict:
    """bpp[variant][level] averaged over `paths`; the % each variant adds over `trained`."""
    levels = model.num_levels
    bpp = {v: np.zeros(levels) for v in VARIANTS}
    for path in paths:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        h, w = pixels.shape[:2]
        x = pad(pixels.astype(np.float32) / 255.0)[None]
        for variant in VARIANTS:
            with _switch(model, variant):
                for level in range(levels):
                    pred = model({"image": x, "level": np.array([level], np.int32)}, training=False)
                    bits = float(keras.ops.convert_to_numpy(pred["bpp"])[0]) * x.shape[1] * x.shape[2]
                    bpp[variant][level] += bits / (h * w) / len(paths)
        if on_image is not None:
            on_image(path)
    extra = {v: 100.0 * (bpp[v] / bpp["trained"] - 1.0) for v in VARIANTS[1:]}
    return {"images": len(paths), "bpp": {v: b.tolist() for v, b in bpp.items()},
            "extra_percent": {v: e.tolist() for v, e in extra.items()}}


def report_lines(report: dict) -> list[str]:
    lines = [f"{report['images']} images; float-model bpp per level (L0…L{len(report['bpp']['trained']) - 1})"]
    for variant, values in report["bpp"].items():
        lines.append(f"{variant:>16}: " + " ".join(f"{b:.4f}" for b in values))
    for variant, values in report["extra_percent"].items():
        lines.append(f"{variant:>16}: " + " ".join(f"{e:+.2f} %" for e in values)
                     + f"  (mean {np.mean(values):+.2f} %)")
    return lines
