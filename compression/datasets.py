"""Where the data sets live and which files count as images: one convention for every command.

The shared data folder sits beside the checkout (`../shared/data`, see the developers' guide):
`kodak/` (the 24 Kodak PNGs: evaluation only, never trained on), `bsds500/{train,val,test}/`
(training and validation) and `photos/` (large photographs). Commands take these as defaults and
accept any folder instead.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

DATA_ROOT = (Path(settings.BASE_DIR).parent / "shared" / "data").resolve()
KODAK = DATA_ROOT / "kodak"
BSDS500 = DATA_ROOT / "bsds500"
PHOTOS = DATA_ROOT / "photos"

# Every still-image suffix a data set may hold; the readers (Pillow with its plugins) open them all.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".avif", ".bmp", ".gif", ".tif", ".tiff", ".ppm"})


def image_files(folder: str | Path, *, limit: int | None = None, skip: int = 0) -> list[Path]:
    """The images directly in `folder`, sorted by name (so runs compare), after `skip`, at most
    `limit`. FileNotFoundError, naming the folder, when it is missing or holds no image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder {str(folder)!r} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {str(folder)!r}")
    paths = paths[skip:]
    return paths[:limit] if limit else paths
