"""The gallery's preview of an image: a small WebP, sealed like the other blobs (never stored plain)."""
from __future__ import annotations

import io

from PIL import Image

THUMBNAIL_PX = 320  # the gallery's preview size (longest side)


def make_thumbnail(image: Image.Image, *, exif: bytes = b"") -> bytes:
    """`exif`: what the renditions carry (vault/metadata.py's rendition_exif: no location)."""
    thumb = image.copy()
    thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, format="WEBP", quality=80, method=4, exif=exif)
    return buf.getvalue()
