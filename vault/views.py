"""Server-rendered vault pages. Thin: forms validate shape, services do the work.

Decrypted images never touch the disk: the compare page embeds them as data: URIs and downloads
stream from memory. Pages that carry a key or a decrypted image are marked no-store so no
browser or proxy cache keeps them.
"""
import base64
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from vault import services
from vault.forms import DownloadForm, UnlockForm, UploadForm, key_file_text
from vault.selectors import get_image_for, images_for

GALLERY_PAGE_SIZE = 12
# Formats every current browser shows in <img>; the rest are shown as PNG on the compare page.
BROWSER_FORMATS = {"JPEG", "PNG", "WEBP", "AVIF"}


def landing(request):
    context = {}
    if request.user.is_authenticated:
        mine = images_for(request.user)
        context["stats"] = mine.aggregate(original=Sum("original_size"), compressed=Sum("compressed_size"))
        context["count"] = mine.count()
    return render(request, "vault/landing.html", context)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _error_code(exc: ValidationError) -> str | None:
    return getattr(exc, "code", None) or next((e.code for e in getattr(exc, "error_list", []) if e.code), None)


# Which upload-form field a service error belongs under; anything else is about the file.
_FIELD_FOR_CODE = {
    "codec": "codec", "target": "custom_target", "quality": "quality", "effort": "effort", "compression": None,
}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def upload(request):
    if request.method == "GET":
        return render(request, "vault/upload.html", {"form": UploadForm()})
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            record, key = services.store_image(
                owner=request.user,
                uploaded_file_or_bytes=data["file"],
                filename=data["file"].name,
                codec=data["codec"],
                target=data["target_text"],
                quality=data.get("quality"),
                effort=data.get("effort"),
                request=request,
            )
        except ValidationError as exc:
            form.add_error(_FIELD_FOR_CODE.get(_error_code(exc), "file"), _error_text(exc))
        else:
            # Rendered straight from the POST, never parked in the session: sessions live in the
            # database, and the key must never reach it. Reloading cannot show it again.
            return render(request, "vault/result.html", {"record": record, "key": key})
    return render(request, "vault/upload.html", {"form": form}, status=400)


@sensitive_post_parameters("key")
@login_required
@never_cache
@require_POST
def key_file(request, pk):
    """Hand the key just shown back as a downloadable file; it only echoes what the browser sent."""
    record = get_image_for(request.user, pk)
    form = UnlockForm(request.POST)
    if not form.is_valid():
        return HttpResponse(" ".join(form.non_field_errors()), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(key_file_text(record=record, key=form.cleaned_data["key_text"]), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{record.stem}.key")
    return response


@login_required
def gallery(request):
    page = Paginator(images_for(request.user), GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "vault/gallery.html", {"page": page, "records": page.object_list})


@login_required
def detail(request, pk):
    from compression.evaluation.plots import candidates_svg

    record = get_image_for(request.user, pk)
    rd_svg = candidates_svg(
        record.candidates, record.width, record.height, chosen={"codec": record.codec, "params": record.codec_params}
    )
    return render(request, "vault/detail.html", {"record": record, "unlock_form": UnlockForm(), "rd_svg": rd_svg})


def _unlock_error(request, record, form, exc, *, status):
    form.add_error(None, str(exc))
    response = render(request, "vault/unlock.html", {"record": record, "form": form}, status=status)
    if isinstance(exc, services.RetrievalLocked):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _display_original(record, data: bytes) -> tuple[bytes, str]:
    if record.original_format in BROWSER_FORMATS:
        return data, record.original_media_type
    from compression.imageio import load_upload

    buf = io.BytesIO()
    load_upload(data).image.save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def _display_compressed(record, data: bytes) -> tuple[bytes, str]:
    from compression.registry import get_codec

    shown, media_type, _ext = get_codec(record.codec).display_bytes(data)
    return shown, media_type


@sensitive_post_parameters("key")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def unlock(request, pk):
    record = get_image_for(request.user, pk)
    if request.method == "GET":
        return render(request, "vault/unlock.html", {"record": record, "form": UnlockForm()})
    form = UnlockForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "vault/unlock.html", {"record": record, "form": form}, status=400)
    key = form.cleaned_data["key_text"]
    try:
        original, compressed = services.retrieve_both(record=record, key=key, request=request)
    except services.RetrievalLocked as exc:
        return _unlock_error(request, record, form, exc, status=429)
    except services.RetrievalRefused as exc:
        return _unlock_error(request, record, form, exc, status=403)
    except ValidationError as exc:
        return _unlock_error(request, record, form, _error_text(exc), status=400)
    original_shown, original_type = _display_original(record, original)
    compressed_shown, compressed_type = _display_compressed(record, compressed)
    context = {
        "record": record,
        "key": key,
        "original_src": _data_uri(original_shown, original_type),
        "compressed_src": _data_uri(compressed_shown, compressed_type),
        # Browsers cannot open every codec's file (.msc): offer what the page shows as a PNG too.
        "compressed_png_name": (
            f"{record.stem}.{record.codec}.png" if compressed_type != record.compressed_media_type else None
        ),
    }
    return render(request, "vault/compare.html", context)


@sensitive_post_parameters("key")
@login_required
@never_cache
@require_POST
def download(request, pk):
    record = get_image_for(request.user, pk)
    form = DownloadForm(request.POST)
    if not form.is_valid():
        return render(request, "vault/unlock.html", {"record": record, "form": UnlockForm()}, status=400)
    variant = form.cleaned_data["variant"]
    unlock_form = UnlockForm()
    try:
        data = services.retrieve_image(record=record, key=form.cleaned_data["key"], variant=variant, request=request)
    except services.RetrievalLocked as exc:
        return _unlock_error(request, record, unlock_form, exc, status=429)
    except services.RetrievalRefused as exc:
        return _unlock_error(request, record, unlock_form, exc, status=403)
    except ValidationError as exc:
        return _unlock_error(request, record, unlock_form, _error_text(exc), status=400)
    return attachment_response(record, variant, data)


def decoded_png_response(record, data: bytes) -> HttpResponse:
    """The compressed version as a PNG, for codecs no browser or image viewer reads (.msc)."""
    from compression.registry import get_codec

    png = get_codec(record.codec).decode_to_png(data)
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = content_disposition_header(True, f"{record.stem}.{record.codec}.png")
    response["Content-Length"] = str(len(png))
    response["Cache-Control"] = "no-store"
    return response


def attachment_response(record, variant: str, data: bytes) -> HttpResponse:
    if variant == "original":
        media_type, filename = record.original_media_type, record.name
    else:
        media_type, filename = record.compressed_media_type, record.compressed_filename
    response = HttpResponse(data, content_type=media_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, pk):
    record = get_image_for(request.user, pk)
    if request.method == "POST":
        name = record.name
        services.delete_image(record=record, request=request)
        messages.success(request, f"Deleted '{name}' and both of its encrypted files.")
        return redirect("vault:gallery")
    return render(request, "vault/delete.html", {"record": record})
