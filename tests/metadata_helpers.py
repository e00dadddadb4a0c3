"""Photos with camera metadata for the metadata, location and HEIC tests: EXIF with a date, a
camera, a lens, exposure, an orientation and a GPS position, and an XMP packet naming a place.
Written with Pillow (and pillow-heif for HEIC), independently of the portal's own readers."""
from __future__ import annotations

import io

from PIL import Image, TiffImagePlugin

import compression.imageio  # noqa: F401 - registers the HEIF opener and saver with Pillow

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
MAKE, MODEL = "Apple", "iPhone 15 Pro"
LENS = "iPhone 15 Pro back camera 6.86mm f/1.78"
TAKEN = "2023:07:14 18:42:05"
# Somewhere recognisable in the bytes and in the page: 48°51'29.6" N, 2°17'40.2" E (Paris).
LATITUDE, LONGITUDE = (48.0, 51.0, 29.6), (2.0, 17.0, 40.2)
PLACE = "Montmartre"
XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'exif:GPSLatitude="48,51.4933N" exif:GPSLongitude="2,17.67E" photoshop:City="Paris">'
    f"<photoshop:State>{PLACE}</photoshop:State><dc:creator>Ada</dc:creator>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
).encode("utf-8")


def camera_exif(*, orientation: int = 1, gps: bool = True, taken: str = TAKEN) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = MAKE, MODEL, orientation
    ifd = exif.get_ifd(EXIF_IFD)
    ifd[0x9003] = taken
    ifd[0x9011] = "+02:00"
    ifd[0x829A] = TiffImagePlugin.IFDRational(1, 120)
    ifd[0x829D] = TiffImagePlugin.IFDRational(178, 100)
    ifd[0x8827] = 80
    ifd[0xA434] = LENS
    ifd[0x927C] = b"Apple iOS\x00maker note bytes"  # a maker note: must survive a GPS strip
    if gps:
        place = exif.get_ifd(GPS_IFD)
        place[1], place[2], place[3], place[4] = "N", LATITUDE, "E", LONGITUDE
        place[6] = TiffImagePlugin.IFDRational(355, 10)
    return exif.tobytes()


def split_photo(width: int = 64, height: int = 40) -> Image.Image:
    """Left half red, right half blue, so a rotation shows where the left column went."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def encode(
    image: Image.Image, fmt: str, *, orientation: int = 1, gps: bool = True, xmp: bool = False, taken: str = TAKEN, **kw
) -> bytes:
    extra = {"exif": camera_exif(orientation=orientation, gps=gps, taken=taken), **kw}
    if xmp:
        extra["xmp"] = XMP
    buf = io.BytesIO()
    image.save(buf, format=fmt, **extra)
    return buf.getvalue()


def gps_of(data: bytes) -> dict:
    """The GPS directory as Pillow reads it ({} when there is none)."""
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(GPS_IFD))


def exif_of(data: bytes) -> tuple[dict, dict]:
    """(IFD0, Exif IFD) as Pillow reads them."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return dict(exif), dict(exif.get_ifd(EXIF_IFD))


def names_a_place(data: bytes) -> bool:
    return any(needle in data for needle in (b"GPSLatitude", b"GPSLongitude", b"Paris", PLACE.encode()))
