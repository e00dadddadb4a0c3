"""Decoding untrusted uploads into a clean, fully loaded Pillow image.

Every failure — whatever Pillow, libjpeg, libpng or zlib raise — becomes `InvalidImage`, whose
message is safe to show the uploader and quotes the offending value. The order of checks matters:
byte size first (cheap), then the *declared* dimensions from the header (before any pixel is
decoded, so a 100 000 × 100 000 PNG of a few kilobytes never allocates gigabytes), then a full
decode with truncated files refused, then orientation and colour normalisation.
"""
from __future__ import annotations

import io
import re
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

# HEIC/HEIF (an iPhone's default format) through libheif. Registered here, where every upload is
# opened, so whichever process opens one (web server, worker, a share) reads it the same way.
# libheif applies the file's own rotation (irot/imir), and the plugin then reports orientation 1
# in the EXIF it hands Pillow, keeping the stored value as info["original_orientation"].
pillow_heif.register_heif_opener()

# Pillow format ids accepted for upload. Everything else (PSD, ICO, PPM, EPS, PDF, SVG, ...) is
# refused: each extra parser is attack surface and the portal has no use for them.
ALLOWED_FORMATS: dict[str, str] = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "AVIF": "AVIF",
    "HEIF": "HEIC/HEIF",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
}
ALLOWED_LABEL = ", ".join(ALLOWED_FORMATS.values())
# The brands of HEIF files whose pictures are HEVC-coded: what phones call .heic (image/heic).
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")


class InvalidImage(ValueError):
    """The upload is not an image we accept; the message is safe to show the user."""


@dataclass
class DecodedUpload:
    image: Image.Image  # fully loaded; mode "RGB", or "RGBA" when the alpha channel is used
    format: str  # Pillow's format id, e.g. "PNG", "JPEG", "WEBP"
    width: int
    height: int
    has_alpha: bool
    source_mode: str = ""  # the mode as stored in the file, e.g. "P", "CMYK", "I;16"
    # The file's metadata as stored, for vault/metadata.py to read: EXIF (orientation as the file
    # says, before it was applied to `image`), the XMP packet, and the stored orientation (1-8).
    exif: Image.Exif | None = None
    xmp: bytes = b""
    orientation: int = 1


def _setting(name: str, fallback: int) -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, name, fallback))
    except Exception:  # Django not configured (scripts, notebooks): use the documented default
        return fallback


def human_bytes(n: int) -> str:
    """The portal's one way to write a size: binary units under their own names (KiB, MiB, GiB),
    so a limit of 25 MiB reads "25.0 MiB" on every page, in every message and in the README."""
    n = int(n)
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} byte{'s' if n != 1 else ''}"


def _sniff_format(data: bytes) -> str | None:
    """Name the format of a file we refuse, for a helpful message. Opens the header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as probe:
                return probe.format
    except Exception:
        pass
    head = data[:64].lstrip()
    for magic, name in (
        (b"%PDF", "PDF"),
        (b"<svg", "SVG"),
        (b"<?xml", "XML/SVG"),
        (b"PK\x03\x04", "ZIP"),
    ):
        if head.startswith(magic):
            return name
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "HEIC"
    return None


def media_type_of(fmt: str, data: bytes) -> str:
    """The media type of an accepted upload; HEIF files coded with HEVC are image/heic."""
    if fmt == "HEIF" and data[8:12] in _HEIC_BRANDS:
        return "image/heic"
    return Image.MIME.get(fmt, "application/octet-stream")


def _stored_orientation(image: Image.Image) -> int:
    """The EXIF orientation the file declares (1-8), whether or not a decoder already applied it."""
    value = image.info.get("original_orientation") or image.getexif().get(ExifTags.Base.Orientation) or 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _xmp_of(image: Image.Image) -> bytes:
    """The XMP packet, wherever the format's reader puts it (PNG: an iTXt keyword)."""
    value = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    # 16-bit and float greyscale: Pillow's own convert("L") clips instead of scaling, which
    # would turn most 16-bit images white.
    arr = np.asarray(image)
    if image.mode == "F":
        arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        arr = np.where(finite, arr, 0.0)
        scale = 255.0 if arr.size and arr.max() <= 1.0 else 1.0
        out = np.clip(np.rint(arr * scale), 0, 255)
    else:
        arr = arr.astype(np.int64)
        out = np.clip(np.rint(arr / 257.0), 0, 255) if arr.size and arr.max() > 255 else np.clip(arr, 0, 255)
    return Image.fromarray(out.astype(np.uint8), "L")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile so every codec sees sRGB pixels (encoders drop profiles)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, src, dst, outputMode=out_mode)
        return converted if converted is not None else image
    except Exception:
        # A broken or unusual profile is not worth refusing the photo over: keep the raw values.
        return image


def _normalise_mode(image: Image.Image) -> tuple[Image.Image, bool]:
    """RGB, or RGBA when the image really uses transparency."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _to_8bit_gray(image)
        mode = "L"
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif mode in ("LA", "La", "RGBa", "RGBA"):
        image = image.convert("RGBA")
    elif mode == "CMYK":
        image = _to_srgb(image)
        if image.mode != "RGB":
            image = image.convert("RGB")
    elif mode in ("1", "L"):
        if "transparency" in image.info:
            image = image.convert("RGBA")
        else:
            image = _to_srgb(image.convert("L")).convert("RGB")
    elif mode != "RGB":
        # YCbCr, LAB, HSV, ... and RGB with a tRNS colour key.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif image.has_transparency_data:
        image = image.convert("RGBA")

    if image.mode == "RGB":
        image = _to_srgb(image)
    elif image.mode == "RGBA":
        image = _to_srgb(image)
        alpha_min, _alpha_max = image.getchannel("A").getextrema()
        if alpha_min == 255:
            # Fully opaque alpha carries no information; dropping it lets every codec compete.
            image = image.convert("RGB")
    return image, image.mode == "RGBA"


@dataclass
class ProbedUpload:
    """What the header declares, before any pixel is decoded."""

    format: str
    width: int  # as displayed: EXIF orientation applied
    height: int
    media_type: str


@contextmanager
def _decode_errors(label: str, filename: str, max_pixels: int):
    """Whatever Pillow and the libraries under it raise, as `InvalidImage` with a message for the
    uploader."""
    # Truncated files must fail rather than come back half grey.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; a warning is a refusal here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f" ({int(found.group(1)) / 1e6:,.1f} MP)" if found else ""
        raise InvalidImage(
            f"{label} declares more pixels{declared} than we accept; the limit is {max_pixels / 1e6:g} MP."
        ) from None
    except MemoryError:
        raise InvalidImage(f"{label} is too large to decode.") from None
    except Exception as exc:  # OSError (truncated), SyntaxError (bad header), zlib errors, ...
        reason = "truncated or corrupt" if "truncat" in str(exc).lower() else "corrupt or unreadable"
        raise InvalidImage(f"{label} is {reason}; could not decode the image data.") from None


def _limits(data: bytes, label: str, max_bytes: int | None, max_pixels: int | None) -> int:
    if max_bytes is None:
        max_bytes = _setting("UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
    if max_pixels is None:
        max_pixels = _setting("UPLOAD_MAX_PIXELS", 50_000_000)
    if data is None or len(data) == 0:
        raise InvalidImage(f"{label} is empty (0 bytes); please choose an image file.")
    if len(data) > max_bytes:
        raise InvalidImage(
            f"{label} is {human_bytes(len(data))}; the upload limit is {human_bytes(max_bytes)}."
        )
    return max_pixels


def _open_checked(data: bytes, *, label: str, filename: str, max_pixels: int) -> Image.Image:
    """Open (header only) an allowed format whose declared size is within the limits."""
    try:
        image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        found = _sniff_format(data)
        if found:
            where = f" in '{filename}'" if filename else ""
            raise InvalidImage(f"Unsupported image format '{found}'{where}; allowed: {ALLOWED_LABEL}.") from None
        raise InvalidImage(f"{label} is not an image we can read; allowed formats: {ALLOWED_LABEL}.") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage(f"{label} declares an empty size {width}×{height}.")
    if width * height > max_pixels:
        raise InvalidImage(
            f"{label} declares {width}×{height} pixels ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:g} MP."
        )
    _check_frames(image, data, label=label)
    return image


# A TIFF's pages are a chain of directories (IFDs), each pointing to the next. Pillow finds the
# page count by loading every directory and checking each new offset against a list of those seen
# (quadratic: a 4 MB file of 40,000 one-pixel pages takes tens of seconds), so the chain is walked
# here instead, reading only each directory's entry count and next offset, up to this many pages.
_TIFF_PAGE_WALK_LIMIT = 100_000


def _tiff_page_count(data: bytes) -> int:
    """The number of pages the TIFF's directory chain declares, at most `_TIFF_PAGE_WALK_LIMIT`
    (a loop in the chain ends it, as Pillow treats one)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43  # BigTIFF: 8-byte counts and offsets
    count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    offset = struct.unpack_from(order + offset_fmt, data, 8 if big else 4)[0]
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < _TIFF_PAGE_WALK_LIMIT:
        seen.add(offset)
        try:
            entries = struct.unpack_from(order + count_fmt, data, offset)[0]
            after = offset + struct.calcsize(count_fmt) + entries * entry_size
            offset = struct.unpack_from(order + offset_fmt, data, after)[0]
        except struct.error:  # a chain pointing past the end: the pages found so far
            break
    return max(1, len(seen))


def _check_frames(image: Image.Image, data: bytes, *, label: str) -> None:
    """Refuse files whose pages or frames would cost far more to read than one picture: more TIFF
    pages than UPLOAD_MAX_TIFF_PAGES, or animations (GIF, WebP, AVIF, HEIF sequences) whose frames
    times pixels exceed UPLOAD_MAX_ANIMATION_PIXELS. Counted from the headers; no pixel decoded."""
    width, height = image.size
    if image.format == "TIFF":
        max_pages = _setting("UPLOAD_MAX_TIFF_PAGES", 1)
        pages = _tiff_page_count(data)
        if pages > max_pages:
            counted = f"at least {pages:,}" if pages >= _TIFF_PAGE_WALK_LIMIT else f"{pages:,}"
            raise InvalidImage(
                f"{label} is a TIFF of {counted} pages; we accept at most {max_pages:,} "
                f"page{'s' if max_pages != 1 else ''}. Save the page you want as its own file."
            )
        return
    # WebP, AVIF and HEIF readers know their frame count from the container; GIF's walks the
    # blocks without decoding them.
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        max_total = _setting("UPLOAD_MAX_ANIMATION_PIXELS", 200_000_000)
        total = frames * width * height
        if total > max_total:
            raise InvalidImage(
                f"{label} is an animation of {frames:,} frames of {width}×{height} pixels "
                f"({total / 1e6:,.1f} MP in all); the limit is {max_total / 1e6:g} MP across all frames."
            )


# EXIF orientations 5-8 turn the picture a quarter: width and height swap when it is shown.
_QUARTER_TURNS = {5, 6, 7, 8}


def _check_png_end(data: bytes, fmt: str, label: str) -> None:
    # Pillow stops reading after the last IDAT, so a PNG cut anywhere lacks only its end chunk:
    # a check the header probe can afford, as it does not decode the pixels.
    if fmt == "PNG" and b"IEND" not in data[-4096:]:
        raise InvalidImage(f"{label} is truncated (the PNG has no end chunk).")


def _header_exif(image: Image.Image) -> Image.Exif:
    """The EXIF the header carries. Pillow's `getexif()` on a PNG decodes every pixel to look for
    an eXIf chunk after the image data, which would put a full decode in the upload request; the
    PNG specification places eXIf before it, and that one is already read."""
    if image.format != "PNG":
        return image.getexif()
    exif = Image.Exif()
    if raw := image.info.get("exif"):
        exif.load(raw)
    return exif


def probe_upload(
    data: bytes, *, filename: str = "", max_bytes: int | None = None, max_pixels: int | None = None
) -> ProbedUpload:
    """The cheap checks an upload request can afford (size, format, declared pixel count), reading
    only the header; `load_upload` decodes the pixels later, in a background job."""
    label = f"'{filename}'" if filename else "The file"
    max_pixels = _limits(data, label, max_bytes, max_pixels)
    with _decode_errors(label, filename, max_pixels):
        with _open_checked(data, label=label, filename=filename, max_pixels=max_pixels) as image:
            width, height = image.size
            # (A HEIF reader has applied the rotation already and reports orientation 1.)
            if _header_exif(image).get(ExifTags.Base.Orientation) in _QUARTER_TURNS:
                width, height = height, width
            fmt = image.format or "?"
    _check_png_end(data, fmt, label)
    return ProbedUpload(format=fmt, width=width, height=height, media_type=media_type_of(fmt, data))


def load_upload(
    data: bytes,
    *,
    filename: str = "",
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> DecodedUpload:
    """Decode an uploaded file or raise `InvalidImage` with a message for the uploader."""
    label = f"'{filename}'" if filename else "The file"
    max_pixels = _limits(data, label, max_bytes, max_pixels)
    with _decode_errors(label, filename, max_pixels):
        image = _open_checked(data, label=label, filename=filename, max_pixels=max_pixels)
        fmt = image.format or "?"
        source_mode = image.mode
        exif, xmp, orientation = image.getexif(), _xmp_of(image), _stored_orientation(image)
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animations: the first frame is the picture we keep
        image.load()
        _check_png_end(data, fmt, label)
        image = ImageOps.exif_transpose(image) or image
        image, has_alpha = _normalise_mode(image)
        image.load()

    width, height = image.size
    return DecodedUpload(
        image=image, format=fmt, width=width, height=height, has_alpha=has_alpha, source_mode=source_mode,
        exif=exif, xmp=xmp, orientation=orientation,
    )
