"""Pages and frames counted at the header check: a many-page TIFF or a long animation is refused
before any pixel is decoded, with the count in the message."""
import io
import struct

import pytest
from PIL import Image

from compression.imageio import InvalidImage, load_upload, probe_upload
from tests.conftest import make_photo


def _tiff_of_pages(pages: int, size=(1, 1), **save) -> bytes:
    """A TIFF of `pages` pages: Pillow writes them one by one for a few pages; for many (its
    writer is quadratic in the page count) one page is written and its directory repeated, every
    copy pointing at the same pixels, each linked to the next."""
    if pages <= 8 or save:
        frames = [Image.new("L", size, i % 256) for i in range(pages)]
        buf = io.BytesIO()
        frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:], **save)
        return buf.getvalue()
    buf = io.BytesIO()
    Image.new("L", size).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"II*\0"
    first = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first)[0]
    ifd = bytes(data[first:first + 2 + 12 * entries])  # without its next-page offset
    next_at = first + 2 + 12 * entries
    for _ in range(pages - 1):
        here = len(data) + (len(data) % 2)  # directories start on a word boundary
        data.extend(b"\0" * (here - len(data)))
        struct.pack_into("<I", data, next_at, here)
        data.extend(ifd + b"\0\0\0\0")
        next_at = here + len(ifd)
    return bytes(data)


def _animation(fmt: str, frames: int, size) -> bytes:
    images = [make_photo(*size, seed=i) for i in range(frames)]
    if fmt == "GIF":
        images = [im.convert("P") for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], duration=40)
    return buf.getvalue()


def test_the_many_page_tiff_of_the_issue_is_refused_at_the_header_check_with_its_page_count():
    data = _tiff_of_pages(40_000)
    with pytest.raises(InvalidImage, match=r"TIFF of 40,000 pages; we accept at most 1 page\b"):
        probe_upload(data, filename="pages.tiff", max_bytes=10**8)
    with pytest.raises(InvalidImage, match="40,000 pages"):
        load_upload(data, filename="pages.tiff", max_bytes=10**8)


@pytest.mark.parametrize("save", [{}, {"big_tiff": True}, {"tiffinfo": {}, "compression": "tiff_lzw"}])
def test_a_two_page_tiff_is_refused_in_every_layout(save):
    with pytest.raises(InvalidImage, match="TIFF of 2 pages"):
        probe_upload(_tiff_of_pages(2, size=(8, 8), **save), max_bytes=10**8)


def test_the_page_count_agrees_with_pillows_on_a_chained_tiff():
    data = _tiff_of_pages(12, size=(3, 2))
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 12
    with pytest.raises(InvalidImage, match="TIFF of 12 pages"):
        probe_upload(data, max_bytes=10**8)


def test_a_single_page_tiff_passes_and_the_page_limit_is_a_setting(settings):
    assert probe_upload(_tiff_of_pages(1, size=(8, 6)), max_bytes=10**8).width == 8
    settings.UPLOAD_MAX_TIFF_PAGES = 3
    assert load_upload(_tiff_of_pages(3, size=(8, 6)), max_bytes=10**8).image.size == (8, 6)
    with pytest.raises(InvalidImage, match="TIFF of 4 pages; we accept at most 3 pages"):
        probe_upload(_tiff_of_pages(4, size=(8, 6)), max_bytes=10**8)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "AVIF"])
def test_an_animation_over_the_frames_times_pixels_limit_is_refused_with_its_count(fmt, settings):
    settings.UPLOAD_MAX_ANIMATION_PIXELS = 10 * 32 * 32
    data = _animation(fmt, 11, (32, 32))
    with pytest.raises(InvalidImage, match=r"animation of 11 frames of 32×32 pixels"):
        probe_upload(data, filename=f"anim.{fmt.lower()}", max_bytes=10**8)
    # At the limit it is accepted, and the first frame is the picture kept.
    assert load_upload(_animation(fmt, 10, (32, 32)), max_bytes=10**8).image.size == (32, 32)
