"""Server-rendered vault pages. Thin: forms validate shape, services do the work.

Images in the owner's vault open with the master key the login unlocked: every picture a page
shows is fetched from its own no-store URL (`image_file`), decrypted in memory per request, never
inlined into the HTML and never written to disk. Records stored before the vault (legacy records)
still open with their own retrieval key on the unlock page.
"""
import base64
import io
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.events import record_event
from audit.models import AuditEvent
from vault import jobs, keyring, presentation, services
from vault.forms import (
    DownloadForm, GALLERY_SORTS, NewVaultForm, RecompressForm, RecoveryUnlockForm, ShareCreateForm, ShareOpenForm,
    UnlockForm, UploadForm, VaultUnlockForm,
)
from vault.selectors import get_image_for, get_share_for, images_for, shares_for, sorted_images

GALLERY_PAGE_SIZE = 24
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


def _upload_form(data=None, files=None) -> UploadForm:
    # A fresh token per rendered form: submitting the same form twice (a double click, Reload on
    # the POST) carries the same token and stores one image, not two.
    return UploadForm(data, files, initial={"upload_token": secrets.token_urlsafe(24)})


@sensitive_variables("master_key")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def upload(request):
    """One or several files. Each is stored and queued on its own (one bad file does not stop the
    others); the page's script sends files one by one to the API instead, with progress bars, and
    this form is what works without it."""
    master_key = keyring.master_key_for(request)  # locked: VaultMiddleware asks for the password
    if request.method == "GET":
        return render(request, "vault/upload.html", {"form": _upload_form()})
    form = _upload_form(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "vault/upload.html", {"form": form}, status=400)
    data, queued, refused = form.cleaned_data, [], []
    for index, upload in enumerate(data["file"]):
        try:
            record, _created = services.store_image(
                owner=request.user,
                master_key=master_key,
                uploaded_file_or_bytes=upload,
                filename=upload.name,
                codec=data["codec"],
                target=data["target_text"],
                quality=data.get("quality"),
                # One token per file of this form: a double submit stores none of them twice.
                upload_token=f"{data['upload_token']}-{index}" if data.get("upload_token") else None,
                effort=data.get("effort"),
                request=request,
            )
        except ValidationError as exc:
            field = _FIELD_FOR_CODE.get(_error_code(exc), "file")
            if field != "file":  # an option error is the same for every file: say it once
                form.add_error(field, _error_text(exc))
                break
            refused.append(_named(upload.name, _error_text(exc)))
        except jobs.JobLimit as exc:
            refused.append(_named(upload.name, str(exc)))
            break
        else:
            queued.append(record)
    if not queued:
        for message in refused:
            form.add_error("file", message)
        return render(request, "vault/upload.html", {"form": form}, status=400)
    names = ", ".join(f"'{r.name}'" for r in queued[:3]) + (f" and {len(queued) - 3} more" if len(queued) > 3 else "")
    messages.success(request, f"Stored {names} encrypted; compression runs in the background (progress below).")
    for message in refused:
        messages.error(request, f"Not stored: {message}")
    # Redirect after POST: Reload on the gallery cannot submit the upload again.
    return redirect("vault:gallery")


def _named(filename: str, message: str) -> str:
    """A per-file error of a batch says which file, where the message does not already."""
    return message if f"'{filename}'" in message else f"'{filename}': {message}"


@sensitive_variables("master_key")
@login_required
@require_POST
def job_action(request, pk, action):
    """Cancel, retry or recompress one image's background job, then back to where the user was."""
    record = get_image_for(request.user, pk)
    try:
        if action == "cancel":
            jobs.cancel_job(record=record, request=request)
            messages.info(request, f"Cancelled the compression of '{record.name}'; its original is kept.")
        else:
            options = None
            if action == "recompress":
                form = RecompressForm(request.POST)
                if not form.is_valid():
                    raise ValidationError(" ".join(m for errors in form.errors.values() for m in errors))
                data = form.cleaned_data
                options = services.job_options(  # the codec's own range and rules too
                    codec=data["codec"], target=data["target_text"], quality=data.get("quality"), effort=data.get("effort"),
                )
            jobs.requeue(record=record, master_key=keyring.master_key_for(request), options=options, request=request)
            messages.success(request, f"'{record.name}' is queued for compression again.")
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    except (jobs.JobConflict, jobs.JobLimit, services.RecordLocked, services.RetrievalRefused) as exc:
        messages.error(request, str(exc))
    return redirect(_safe_next(request, reverse("vault:detail", args=[record.pk])))


@login_required
def gallery(request):
    sort = request.GET.get("sort") if request.GET.get("sort") in GALLERY_SORTS else "newest"
    view = "list" if request.GET.get("view") == "list" else "grid"
    page = Paginator(sorted_images(request.user, sort), GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page, "records": page.object_list, "sort": sort, "view": view, "sorts": GALLERY_SORTS,
        "unlocked": keyring.session_master_key(request) is not None,
    }
    return render(request, "vault/gallery.html", context)


@login_required
def detail(request, pk):
    from compression.evaluation.plots import candidates_svg

    record = get_image_for(request.user, pk)
    won = presentation.winner_index(record)
    context = {
        "record": record,
        "rd_svg": candidates_svg(
            record.candidates, record.width, record.height, chosen=None if won is None else record.candidates[won]
        ),
        "winner_index": won,
        "params_shown": presentation.shown_params(record),
        "plain_reason": presentation.plain_reason(record),
        "msssim_measured": any(c.get("msssim") is not None for c in record.candidates or []),
        "unlocked": keyring.session_master_key(request) is not None,
        "shares": shares_for(request.user, record),
        "share_form": ShareCreateForm(),
        "recompress_form": RecompressForm.for_record(record),
    }
    return render(request, "vault/detail.html", context)


def share_link(request, share, key: str) -> str:
    """The link to send: the key rides in the fragment, which browsers never send to a server, so
    it cannot end up in our access logs, a proxy's, or a Referer header."""
    return request.build_absolute_uri(reverse("vault:share", args=[share.public_id])) + "#" + key


@sensitive_variables("master_key", "key")
@login_required
@never_cache
@require_POST
def share_create(request, pk):
    record = get_image_for(request.user, pk)
    form = ShareCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items()))
        return redirect("vault:detail", pk=record.pk)
    master_key = keyring.master_key_for(request)
    try:
        share, key = services.create_share(
            record=record, master_key=master_key, label=form.cleaned_data["label"], expires_at=form.expires_at(), request=request
        )
    except services.RecordLocked as exc:
        messages.error(request, str(exc))
        return redirect("vault:detail", pk=record.pk)
    # Rendered from this POST only, like every key the portal shows: reloading cannot show it again.
    response = render(request, "vault/share_created.html", {"record": record, "share": share, "key": key, "link": share_link(request, share, key)})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def share_revoke(request, pk, share_id):
    record = get_image_for(request.user, pk)
    services.revoke_share(share=get_share_for(request.user, record, share_id), request=request)
    messages.success(request, "Share revoked: its link and key open nothing any more.")
    return redirect(_safe_next(request, reverse("vault:detail", args=[record.pk])))


@sensitive_post_parameters("key")
@sensitive_variables("opened", "data")
@never_cache
@require_http_methods(["GET", "POST"])
def share_page(request, public_id):
    """The page a share link opens, no login needed. The key comes from the link's fragment (a
    script copies it into the form) or is typed; the answer is that one image's bytes."""
    form = ShareOpenForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return render(request, "vault/share.html", {"form": form}, status=200 if request.method == "GET" else 400)
    variant = form.cleaned_data["variant"]
    stored = {"display": "original", "decoded": "compressed"}.get(variant, variant)
    try:
        share, opened = services.open_share(public_id=public_id, key=form.cleaned_data["key"], variants=[stored], request=request)
    except services.ShareUnavailable as exc:
        return render(request, "vault/share.html", {"form": form, "error": str(exc)}, status=404)
    except services.RetrievalLocked as exc:
        response = render(request, "vault/share.html", {"form": form, "error": str(exc)}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except services.RetrievalRefused:
        return render(request, "vault/share.html", {"form": form, "error": "That key does not open this share."}, status=403)
    except jobs.NotCompressedYet as exc:
        return render(request, "vault/share.html", {"form": form, "error": str(exc)}, status=409)
    except ValidationError as exc:
        return render(request, "vault/share.html", {"form": form, "error": _error_text(exc)}, status=400)
    data = opened[stored]
    if variant == "display":
        response = file_response(share.record, "original-display", data)
    else:
        response = file_response(share.record, variant, data)
    response["Referrer-Policy"] = "no-referrer"
    return response


@sensitive_variables("master_key")
@login_required
@never_cache
@require_GET
def compare(request, pk):
    record = get_image_for(request.user, pk)
    if record.is_legacy:
        return redirect("vault:unlock", pk=record.pk)
    if not record.has_compressed:
        messages.info(request, f"'{record.name}' is not compressed yet ({record.get_status_display().lower()}).")
        return redirect("vault:detail", pk=record.pk)
    keyring.master_key_for(request)  # only to send a locked vault to the password page first
    return render(request, "vault/compare.html", {"record": record, "vault_urls": True})


# What `image_file` can serve: stored variants as they are, and forms every browser can show.
FILE_VARIANTS = ("original", "compressed", "thumbnail", "decoded", "original-display", "compressed-display")


@sensitive_variables("master_key", "data")
@login_required
@require_GET
def image_file(request, pk, variant):
    """One decrypted image per URL, so pages reference pictures with <img src> instead of carrying
    them inline. no-store (and private): neither the browser cache nor a proxy keeps plaintext."""
    if variant not in FILE_VARIANTS:
        raise Http404(f"No variant {variant!r}.")
    record = get_image_for(request.user, pk)
    master_key = keyring.master_key_for(request)
    stored = {"decoded": "compressed", "original-display": "original", "compressed-display": "compressed"}.get(variant, variant)
    try:
        data = services.open_variant(record=record, master_key=master_key, variant=stored, request=request)
    except (services.RecordLocked, jobs.NotCompressedYet) as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    except services.RetrievalRefused as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    response = file_response(record, variant, data)
    if request.GET.get("download") != "1":
        response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline", 1)
    return response


def file_response(record, variant: str, data: bytes) -> HttpResponse:
    """The HTTP answer for one opened variant (shared with the API's download endpoint)."""
    if variant == "decoded":
        return decoded_png_response(record, data)
    if variant == "thumbnail":
        response = HttpResponse(data, content_type="image/webp")
        response["Content-Disposition"] = content_disposition_header(False, f"{record.stem}.thumbnail.webp")
    elif variant == "original-display":
        shown, media_type = _display_original(record, data)
        response = HttpResponse(shown, content_type=media_type)
        response["Content-Disposition"] = content_disposition_header(False, record.name)
    elif variant == "compressed-display":
        shown, media_type = _display_compressed(record, data)
        response = HttpResponse(shown, content_type=media_type)
        response["Content-Disposition"] = content_disposition_header(False, record.compressed_filename)
    else:
        return attachment_response(record, variant, data)
    response["Cache-Control"] = "no-store, private"
    return response


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@sensitive_post_parameters()
@sensitive_variables("master_key", "recovery")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_vault(request):
    """Unlock a locked vault with the account password (not a new login), or with the recovery key
    after the password was reset, or, with neither, start a new vault."""
    next_url = _safe_next(request, reverse("vault:gallery"))
    password_form = VaultUnlockForm(request.POST if request.POST.get("method") == "password" else None)
    recovery_form = RecoveryUnlockForm(request.POST if request.POST.get("method") == "recovery" else None, prefix="recovery")
    new_form = NewVaultForm(request.POST if request.POST.get("method") == "new" else None, prefix="new")
    context = {"password_form": password_form, "recovery_form": recovery_form, "new_form": new_form, "next": next_url}
    if request.method == "GET":
        return render(request, "vault/unlock_vault.html", context)
    try:
        if password_form.is_bound and password_form.is_valid():
            master_key = keyring.unlock_with_password(user=request.user, password=password_form.cleaned_data["password"], request=request)
        elif recovery_form.is_bound and recovery_form.is_valid():
            # The password must be the account's: it is what the vault gets re-wrapped under.
            keyring.check_account_password(user=request.user, password=recovery_form.cleaned_data["password"], request=request)
            master_key = keyring.unlock_with_recovery_key(user=request.user, recovery_key=recovery_form.cleaned_data["recovery_key"])
            # The recovery key proved ownership; wrap MK under the current password again so the
            # next login unlocks by itself (this is how a reset password gets the vault back).
            keyring.rewrap_password(user=request.user, master_key=master_key, password=recovery_form.cleaned_data["password"],
                                    request=request, why="Reopened with the recovery key")
        elif new_form.is_bound and new_form.is_valid():
            keyring.check_account_password(user=request.user, password=new_form.cleaned_data["password"], request=request)
            master_key, recovery = keyring.create_vault(user=request.user, password=new_form.cleaned_data["password"], request=request)
            keyring.open_session(request, master_key=master_key)
            return render(request, "accounts/recovery_key.html", {"recovery_key": recovery, "next": next_url})
        else:
            return render(request, "vault/unlock_vault.html", context, status=400)
    except keyring.WrongSecret as exc:
        form = recovery_form if recovery_form.is_bound else (new_form if new_form.is_bound else password_form)
        form.add_error(None, str(exc))
        return render(request, "vault/unlock_vault.html", context, status=403)
    keyring.open_session(request, master_key=master_key)
    record_vault_event(request, unlocked=True)
    return redirect(next_url)


def record_vault_event(request, *, unlocked: bool) -> None:
    action = AuditEvent.Action.VAULT_UNLOCKED if unlocked else AuditEvent.Action.VAULT_LOCKED
    record_event(action=action, request=request, detail="Vault unlocked." if unlocked else "Vault locked.")


@login_required
@require_POST
def lock_vault(request):
    keyring.lock_session(request)
    record_vault_event(request, unlocked=False)
    messages.success(request, "Your vault is locked. Your password unlocks it again.")
    return redirect("vault:landing")


@sensitive_variables("master_key", "recovery")
@login_required
@never_cache
@require_POST
def regenerate_recovery_key(request):
    master_key = keyring.master_key_for(request)
    recovery = keyring.regenerate_recovery_key(user=request.user, master_key=master_key, request=request)
    return render(request, "accounts/recovery_key.html", {"recovery_key": recovery, "next": reverse("profile"), "regenerated": True})


@require_POST
def recovery_key_saved(request):
    """The "I have saved it" step after a recovery key was shown. The key itself is gone by now."""
    if request.POST.get("saved") != "on":
        messages.warning(request, "You did not confirm saving your recovery key. If you did not, make a new one on your profile.")
    return redirect(_safe_next(request, reverse("vault:gallery")))


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
    return _private_attachment(png, "image/png", f"{record.stem}.{record.codec}.png")


def _private_attachment(data: bytes, media_type: str, filename: str) -> HttpResponse:
    # no-store: decrypted pictures must not stay in any cache between the server and the user.
    response = HttpResponse(data, content_type=media_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Content-Length"] = str(len(data))
    response["Cache-Control"] = "no-store"
    return response


def attachment_response(record, variant: str, data: bytes) -> HttpResponse:
    if variant == "original":
        media_type, filename = record.original_media_type, record.name
    else:
        media_type, filename = record.compressed_media_type, record.compressed_filename
    return _private_attachment(data, media_type, filename)


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
    master_key = keyring.master_key_for(request)
    try:
        services.adopt_legacy_record(record=record, key=form.cleaned_data["key_text"], master_key=master_key, request=request)
    except services.RetrievalLocked as exc:
        return _unlock_error(request, record, form, exc, status=429)
    except services.RetrievalRefused as exc:
        return _unlock_error(request, record, form, exc, status=403)
    except ValidationError as exc:
        return _unlock_error(request, record, form, _error_text(exc), status=400)
    messages.success(request, f"'{record.name}' is in your vault now. Its old key still opens it, as a share key (listed below).")
    return redirect("vault:detail", pk=record.pk)


@sensitive_variables("master_key", "data")
@login_required
@never_cache
@require_POST
def bulk(request):
    """The gallery's "select several": download their originals as one zip, or delete them (after
    a confirmation page listing what goes)."""
    ids = request.POST.getlist("ids")
    if not 0 < len(ids) <= services.BULK_MAX:
        messages.error(request, f"Select between 1 and {services.BULK_MAX} images; you selected {len(ids)}.")
        return redirect("vault:gallery")
    records = [get_image_for(request.user, pk) for pk in ids]  # another user's id: 404
    action = request.POST.get("action")
    if action == "zip":
        master_key = keyring.master_key_for(request)
        try:
            data = services.zip_originals(records=[r for r in records if not r.is_legacy], master_key=master_key, request=request)
        except (ValidationError, services.RecordLocked, services.RetrievalRefused) as exc:
            messages.error(request, _error_text(exc) if isinstance(exc, ValidationError) else str(exc))
            return redirect("vault:gallery")
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(True, "images.zip")
        response["Cache-Control"] = "no-store"
        return response
    if action == "delete" and request.POST.get("confirm") == "yes":
        for record in records:
            services.delete_image(record=record, request=request)
        messages.success(request, f"Deleted {len(records)} image{'s' if len(records) != 1 else ''} and their encrypted files.")
        return redirect("vault:gallery")
    if action == "delete":
        return render(request, "vault/bulk_delete.html", {"records": records})
    return HttpResponse(f"Unknown action {action!r}; use zip or delete.", status=400, content_type="text/plain; charset=utf-8")


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
