"""Records stored before the per-user vault (legacy records): they open with their own retrieval
key, on the unlock page (both versions side by side, inlined for that one response), as a
download, or once into the owner's vault ("adopt")."""
import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from vault import services, sessions
from vault.forms import DownloadForm, UnlockForm
from vault.responses import attachment_response, display_compressed, display_original
from vault.selectors import get_image_for
from vault.views.common import REFUSALS, render_refused


def _refused(request, record, form, exc):
    """The unlock page again with why the key did not open the record."""
    return render_refused(request, "vault/unlock.html", {"record": record, "form": form}, exc, form=form)


def _data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


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
        original_shown, original_type = display_original(record, original)
        compressed_shown, compressed_type = display_compressed(record, compressed)
    except REFUSALS as exc:
        return _refused(request, record, form, exc)
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
    try:
        data = services.retrieve_image(record=record, key=form.cleaned_data["key"], variant=variant, request=request)
    except REFUSALS as exc:
        return _refused(request, record, UnlockForm(), exc)
    return attachment_response(record, variant, data)


@sensitive_post_parameters("key")
@sensitive_variables("master_key")
@login_required
@never_cache
@require_POST
def adopt(request, pk):
    """"Add to my vault" for a record from before the vault, with its retrieval key."""
    record = get_image_for(request.user, pk)
    form = UnlockForm(request.POST)
    if not form.is_valid():
        return render(request, "vault/unlock.html", {"record": record, "form": form}, status=400)
    master_key = sessions.master_key_for(request)
    try:
        services.adopt_legacy_record(record=record, key=form.cleaned_data["key_text"], master_key=master_key, request=request)
    except REFUSALS as exc:
        return _refused(request, record, form, exc)
    messages.success(request, f"'{record.name}' is in your vault now. Its old key still opens it, as a share key (listed below).")
    return redirect("vault:detail", pk=record.pk)
