"""Training data: CIFAR-10 (the paper's set, in its standard `cifar-10-batches-py` layout) and
folders of photos read as random crops. Kodak is evaluation-only and never read here."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

import keras

from compression.datasets import IMAGE_SUFFIXES


def load_cifar10(root: str | Path, *, include_test: bool = False) -> np.ndarray:
    """Read `data_batch_1..5` (and `test_batch`) pickles -> (N, 32, 32, 3) uint8."""
    root = Path(root)
    names = sorted(p.name for p in root.glob("data_batch_*"))
    if include_test and (root / "test_batch").exists():
        names.append("test_batch")
    if not names:
        raise FileNotFoundError(f"No CIFAR-10 batches (data_batch_*) found in {str(root)!r}")
    arrays = []
    for name in names:
        with open(root / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{name}: expected rows of 3072 bytes, got shape {data.shape}")
        # Rows are channel-major: 1024 red, 1024 green, 1024 blue values.
        arrays.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.concatenate(arrays)


def load_folder(paths, *, exclude_kodak: bool = True, downscale: int = 1) -> list[np.ndarray]:
    """Every image of the folders as RGB arrays. `downscale` > 1 shrinks each by that factor with
    an antialiased (Lanczos) resize: large JPEG photographs then lose their block artefacts and
    half-resolution chroma, which the codec should not learn to reproduce."""
    images = []
    for folder in paths:
        folder = Path(folder)
        if exclude_kodak and "kodak" in folder.as_posix().lower():
            raise ValueError(f"{str(folder)!r} looks like the Kodak set, which is for evaluation only")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as im:
                    im = im.convert("RGB")
                    if downscale > 1:
                        size = (max(1, im.width // downscale), max(1, im.height // downscale))
                        im = im.resize(size, Image.LANCZOS)
                    images.append(np.asarray(im))
    if not images:
        raise FileNotFoundError(f"No images found in {[str(p) for p in paths]}")
    return images


def split(items, *, val_fraction: float = 0.1, seed: int = 0):
    """The paper's 90/10 split, deterministic."""
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = max(1, int(round(len(items) * val_fraction)))
    pick = lambda idx: [items[i] for i in idx] if isinstance(items, list) else items[idx]  # noqa: E731
    return pick(order[n_val:]), pick(order[:n_val])


def pad_to(image: np.ndarray, side: int) -> np.ndarray:
    """Edge-replicate an image smaller than `side` up to it, as the codec pads at inference
    (CIFAR's 32×32 images are below the model's 64-pixel granularity)."""
    h, w = image.shape[:2]
    if h >= side and w >= side:
        return image
    return np.pad(image, ((0, max(0, side - h)), (0, max(0, side - w)), (0, 0)), mode="edge")


def stratified_levels(rng, batch_size: int, num_levels: int) -> np.ndarray:
    """Levels for one batch: each appears ⌊B/K⌋ or ⌈B/K⌉ times, the extra ones drawn at random
    (so over many batches every level is trained alike), in random order."""
    whole = np.tile(np.arange(num_levels), batch_size // num_levels)
    extra = rng.choice(num_levels, batch_size % num_levels, replace=False)
    return rng.permutation(np.concatenate([whole, extra])).astype(np.int32)


def crop_scale(rng, crop: int, short_side: int, scale=(0.5, 1.0)) -> float:
    """A scale drawn uniformly over the part of `scale` this image can give: a crop of `crop`
    pixels at scale s reads crop/s source pixels, so s cannot go below crop/short_side."""
    lo = min(max(scale[0], crop / short_side), scale[1])
    return float(rng.uniform(lo, scale[1]))


class CropDataset(keras.utils.PyDataset):
    """Random crops at a random scale (0.5–1.0 hides BSDS's JPEG blocks), random flips, and
    quality levels stratified within each batch. Each batch is a dict {"image", "level"}."""

    def __init__(self, images, *, crop: int, batch_size: int, steps: int, num_levels: int,
                 scale=(0.5, 1.0), seed: int = 0, epoch: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.images, self.crop, self.batch_size = images, crop, batch_size
        self.steps, self.num_levels, self.scale, self.seed = steps, num_levels, scale, seed
        self.epoch = epoch  # seeds the crops: a resumed run starts at its own epoch

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def _crop(self, rng, image):
        image = pad_to(image, self.crop)
        h, w = image.shape[:2]
        side = min(int(round(self.crop / crop_scale(rng, self.crop, min(h, w), self.scale))), h, w)
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        patch = image[top : top + side, left : left + side]
        if side != self.crop:
            patch = np.asarray(Image.fromarray(patch).resize((self.crop, self.crop), Image.BICUBIC))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        return patch

    def __getitem__(self, idx):
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        picks = rng.integers(0, len(self.images), self.batch_size)
        batch = np.stack([self._crop(rng, self.images[i]) for i in picks]).astype(np.float32) / 255.0
        return {"image": batch, "level": stratified_levels(rng, self.batch_size, self.num_levels)}


def validation_batches(images, *, crop: int, num_levels: int, limit: int = 24):
    """Deterministic centre crops of the first `limit` images, each at every level (crop-major:
    sample i is crop i // K at level i % K), so each level is scored on the same photos."""
    crops = []
    for image in images[:limit]:
        image = pad_to(image, crop)
        h, w = image.shape[:2]
        side = min(crop, h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crops.append(image[top : top + side, left : left + side])
    side = min(c.shape[0] for c in crops)
    x = np.stack([c[:side, :side] for c in crops]).astype(np.float32) / 255.0
    return {"image": np.repeat(x, num_levels, axis=0),
            "level": np.tile(np.arange(num_levels, dtype=np.int32), len(x))}
