"""What the pages and the API answer alike for an opened image: the file responses (attachment,
decoded PNG, browser-displayable forms), which stored blob a requested variant opens, and the link
a share is sent as. An original is never decoded here: one no browser draws is shown through the
rendition the worker made (vault/display.py).

Every response carrying plaintext is `no-store`: decrypted pictures must not stay in any cache
between the server and the person.
"""
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.debug import sensitive_variables

from vault import display, originals
from vault.display import BROWSER_FORMATS
from vault.errors import OriginalNotDisplayable
from vault.images import export

# The wording for a wrong share key: the domain's refusal names an image, a share's visitor holds
# a share.
SHARE_KEY_REFUSED = "That key does not open this share."


def stored_variant(variant: str, record) -> str:
    """The stored blob (original, compressed, thumbnail, rendition) a requested variant opens."""
    return display.stored_variant(variant, record)


def file_response(record, variant: str, data: bytes) -> HttpResponse:
    """The HTTP answer for one opened variant; `data` is the blob `stored_variant(variant, record)`
    names."""
    if variant == "decoded":
        return decoded_png_response(record, data)
    if variant == "thumbnail":
        response = HttpResponse(data, content_type="image/webp")
        response["Content-Disposition"] = content_disposition_header(False, f"{record.stem}.thumbnail.webp")
    elif variant in ("original-display", "display"):
        # A browser format kept as JPEG XL arrives here rebuilt (the upload's JPEG, or a PNG of its
        # pixels: vault/originals.py), which browsers draw.
        rendered = display.needs_rendition(record)
        media_type = display.MEDIA_TYPE if rendered else originals.served_media_type(record)
        response = HttpResponse(data, content_type=media_type)
        response["Content-Disposition"] = content_disposition_header(False, f"{record.stem}.png" if rendered else originals.served_name(record))
    elif variant == display.VARIANT:
        response = HttpResponse(data, content_type=display.MEDIA_TYPE)
        response["Content-Disposition"] = content_disposition_header(False, f"{record.stem}.png")
    elif variant == "compressed-display":
        shown, media_type = display_compressed(record, data)
        response = HttpResponse(shown, content_type=media_type)
        response["Content-Disposition"] = content_disposition_header(False, record.compressed_filename)
    else:
        return attachment_response(record, variant, data)
    response["Cache-Control"] = "no-store, private"
    return response


def attachment_response(record, variant: str, data: bytes) -> HttpResponse:
    """The original or the compressed file as a download, under its own name and media type."""
    if variant == "original":
        # A lossless original kept as JPEG XL comes back as a PNG (vault/originals.py).
        media_type, filename = originals.served_media_type(record), originals.served_name(record)
    else:
        media_type, filename = record.compressed_media_type, record.compressed_filename
    return private_attachment(data, media_type, filename)


def decoded_png_response(record, data: bytes) -> HttpResponse:
    """The compressed version as a PNG, for codecs no browser or image viewer reads (.msc)."""
    from compression.registry import get_codec

    png = get_codec(record.codec).decode_to_png(data)
    return private_attachment(png, "image/png", f"{record.stem}.{record.codec}.png")


def private_attachment(data: bytes, media_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=media_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = "no-store"
    return response


@sensitive_variables("master_key")
def export_response(*, records, master_key: bytes, request) -> StreamingHttpResponse:
    """The streamed zip of `records` (vault/images/export.py): no Content-Length, since the size
    is known only once the last image is written; no-store like every plaintext response."""
    response = StreamingHttpResponse(export.stream_export(records=records, master_key=master_key, request=request),
                                     content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, export.filename())
    response["Cache-Control"] = "no-store"
    # Tell a proxy in front (nginx) not to buffer the whole archive before passing it on.
    response["X-Accel-Buffering"] = "no"
    return response


def display_original(record, data: bytes) -> tuple[bytes, str]:
    """The original of a record from before the vault as a browser shows it: as stored where a
    browser draws it. Others are not decoded here (the web process never decodes an original, see
    vault/display.py), and such records have no rendition: no job ever ran for them."""
    if record.original_format in BROWSER_FORMATS:
        return data, record.original_media_type
    raise OriginalNotDisplayable(
        f"'{record.name}' is a {record.original_format} file, which browsers do not draw, stored before the vault: "
        "add it to your vault and recompress it to get a viewable copy."
    )


def display_compressed(record, data: bytes) -> tuple[bytes, str]:
    """The compressed file as a browser shows it (the codec decides: e.g. .msc as PNG)."""
    from compression.registry import get_codec

    shown, media_type, _ext = get_codec(record.codec).display_bytes(data)
    return shown, media_type


def share_link(request, share, key: str) -> str:
    """The link to send: the key rides in the fragment, which browsers never send to a server, so
    it cannot end up in our access logs, a proxy's, or a Referer header."""
    return request.build_absolute_uri(reverse("vault:share", args=[share.public_id])) + "#" + key
