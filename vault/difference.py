"""The compare view's difference picture, made on the server from the decoded pixels.

Why not in the browser: a canvas stores pixels premultiplied by their alpha, and each browser
decoder (PNG, WebP, AVIF) premultiplies with its own rounding; reading them back divides again, so
a half-transparent pixel that both files hold identically can come back 255 apart. A lossless
copy of a transparent PNG then showed stripes and "largest difference 255". Here both files are
decoded exactly (the original as the codec was given it: oriented, in its normalised mode), so a
lossless copy is all zero.

The difference is of what is seen: colour weighted by opacity, so pixels transparent in both
files count as equal whatever colour they hide, and a change of opacity shows in every channel.
The PNG is opaque (alpha 255), so the browser reads it back exactly.
"""
from __future__ import annotations

import io

import numpy as np
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.debug import sensitive_variables
from PIL import Image

from vault.errors import OriginalNotDisplayable


def difference_pixels(original: Image.Image, compressed: Image.Image) -> np.ndarray:
    """|original − compressed| per RGB channel as uint8 (height × width × 3), opacity-weighted."""
    if original.size != compressed.size:
        raise ValueError(f"the compressed image is {compressed.size}, the original {original.size}")
    a, b = np.asarray(original.convert("RGBA")), np.asarray(compressed.convert("RGBA"))
    alpha_a, alpha_b = a[..., 3].astype(np.int32), b[..., 3].astype(np.int32)
    opacity = np.abs(alpha_a - alpha_b)
    out = np.empty(a.shape[:2] + (3,), dtype=np.uint8)
    # One channel at a time: a phone photo's planes in int32 are ~100 MB each.
    for c in range(3):
        # Premultiplied in integers (×255) so equal pixels give exactly 0, then back to 0–255.
        colour = (np.abs(a[..., c] * alpha_a - b[..., c] * alpha_b) + 127) // 255
        out[..., c] = np.maximum(colour, opacity)
    return out


def difference_png(record, original: bytes, compressed: bytes) -> bytes:
    """The unamplified difference of `record`'s two opened files as an opaque PNG."""
    from django.conf import settings

    from compression.registry import get_codec
    from vault.decoding import decode_original

    # The one request-time decode of an original: under the same CPU bound as a worker's.
    source = decode_original(original, filename=record.name, max_pixels=settings.UPLOAD_MAX_PIXELS).image
    decoded = get_codec(record.codec).decode(compressed)
    buf = io.BytesIO()
    Image.fromarray(difference_pixels(source, decoded), "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@sensitive_variables("opened")
def difference_response(record, opened: dict[str, bytes]) -> HttpResponse:
    """The difference of `record`'s opened original and compressed files, no-store like every
    plaintext; files that do not decode into the same size are refused in words (422)."""
    from compression.imageio import InvalidImage

    try:
        png = difference_png(record, opened["original"], opened["compressed"])
    except (InvalidImage, ValueError) as exc:
        raise OriginalNotDisplayable(f"{str(exc).rstrip('.')}.") from None
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = content_disposition_header(False, f"{record.stem}.difference.png")
    response["Cache-Control"] = "no-store, private"
    return response
