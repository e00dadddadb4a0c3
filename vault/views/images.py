"""The owner's image pages: landing, upload, gallery, detail, compare, each image's files, the job
actions (cancel, retry, recompress), the gallery's bulk export and delete, and delete (to the trash).

Images in the owner's vault open with the master key the login unlocked: every picture a page
shows is fetched from its own no-store URL (`image_file`), decrypted in memory per request, never
inlined into the HTML and never written to disk.
"""
import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.errors import text_or_json
from portal.preferences import storage_default
from vault import difference, jobs, metadata, presentation, services, sessions
from vault.errors import DuplicateImage, JobLimit, StorageFull
from vault.forms import RecompressForm, ShareCreateForm, UploadForm
from vault.responses import export_response, file_response, stored_variant
from vault.selectors import GALLERY_SORTS, get_image_for, images_for, shares_for, sorted_images, trash_for
from vault.views.common import REFUSALS, message_refused, refusal_status, refusal_text, safe_next

GALLERY_PAGE_SIZE = 24


def landing(request):
    context = {}
    if request.user.is_authenticated:
        mine = images_for(request.user)
        context["stats"] = mine.aggregate(original=Sum("original_size"), compressed=Sum("compressed_size"), stored=Sum("stored_bytes"))
        context["count"] = mine.count()
    return render(request, "vault/landing.html", context)


def _error_code(exc: ValidationError) -> str | None:
    return getattr(exc, "code", None) or next((e.code for e in getattr(exc, "error_list", []) if e.code), None)


# Which upload-form field a service error belongs under; anything else is about the file.
_FIELD_FOR_CODE = {
    "codec": "codec", "target": "custom_target", "quality": "quality", "effort": "effort", "compression": None,
    "storage": "storage",
}


def _upload_form(request, data=None, files=None) -> UploadForm:
    # A fresh token per rendered form: submitting the same form twice (a double click, Reload on
    # the POST) carries the same token and stores one image, not two. The storage mode starts at
    # the profile's default.
    return UploadForm(data, files, initial={"upload_token": secrets.token_urlsafe(24),
                                            "storage": storage_default(request.user)})


@sensitive_variables("master_key")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def upload(request):
    """One or several files. Each is stored and queued on its own (one bad file does not stop the
    others); the page's script sends files one by one to the API instead, with progress bars, and
    this form is what works without it."""
    master_key = sessions.master_key_for(request)  # locked: VaultMiddleware asks for the password
    if request.method == "GET":
        return render(request, "vault/upload.html", {"form": _upload_form(request)})
    form = _upload_form(request, request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "vault/upload.html", {"form": form}, status=400)
    data, queued, refused, duplicates, full = form.cleaned_data, [], [], [], False
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
                allow_duplicate=data.get("allow_duplicate", False),
                storage=data.get("storage") or storage_default(request.user),
                request=request,
            )
        except DuplicateImage as exc:
            duplicates.append({"filename": upload.name, "existing_id": exc.existing_id, "existing_name": exc.existing_name,
                               "in_trash": exc.in_trash})
        except ValidationError as exc:
            field = _FIELD_FOR_CODE.get(_error_code(exc), "file")
            if field != "file":  # an option error is the same for every file: say it once
                form.add_error(field, refusal_text(exc))
                break
            refused.append(_named(upload.name, refusal_text(exc)))
        except (JobLimit, StorageFull) as exc:  # the next files would meet the same refusal
            refused.append(_named(upload.name, str(exc)))
            full = full or isinstance(exc, StorageFull)
            break
        else:
            queued.append(record)
    if not queued:
        for message in refused:
            form.add_error("file", message)
        # 409 when the only reason is files already stored: the page offers them, and keeping both.
        status = 507 if full else 409 if duplicates and not refused and not form.errors else 400
        return render(request, "vault/upload.html", {"form": form, "duplicates": duplicates}, status=status)
    names = ", ".join(f"'{r.name}'" for r in queued[:3]) + (f" and {len(queued) - 3} more" if len(queued) > 3 else "")
    messages.success(request, f"Stored {names} encrypted; compression runs in the background (progress below).")
    for message in refused:
        messages.error(request, f"Not stored: {message}")
    for d in duplicates:
        messages.warning(request, _duplicate_message(d))
    # Redirect after POST: Reload on the gallery cannot submit the upload again.
    return redirect("vault:gallery")


def _duplicate_message(d: dict) -> str:
    where = reverse("vault:trash") if d["in_trash"] else reverse("vault:detail", args=[d["existing_id"]])
    return format_html(
        "Not stored again: '{}' is already {} as <a href=\"{}\">'{}'</a>. To keep both, upload it again with "
        "“Keep a second copy” ticked.",
        d["filename"], "in your trash" if d["in_trash"] else "in your vault", where, d["existing_name"],
    )


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
            jobs.requeue(record=record, master_key=sessions.master_key_for(request), options=options, request=request)
            messages.success(request, f"'{record.name}' is queued for compression again.")
    except REFUSALS as exc:
        message_refused(request, exc)
    return redirect(safe_next(request, reverse("vault:detail", args=[record.pk])))


@login_required
def gallery(request):
    sort = request.GET.get("sort") if request.GET.get("sort") in GALLERY_SORTS else "newest"
    view = "list" if request.GET.get("view") == "list" else "grid"
    page = Paginator(sorted_images(request.user, sort), GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    records = list(page.object_list)
    services.reveal_figures_for(request, records)  # exact sizes while unlocked; "about" otherwise
    context = {
        "page": page, "records": records, "sort": sort, "view": view, "sorts": GALLERY_SORTS,
        "unlocked": sessions.session_master_key(request) is not None,
        "trash_count": trash_for(request.user).count(),
    }
    return render(request, "vault/gallery.html", context)


def _photo_rows(request, record) -> list[tuple[str, str]]:
    """The sealed metadata as the detail page shows it; nothing while the vault is locked."""
    master_key = sessions.session_master_key(request)
    if master_key is None:
        return []
    try:
        return metadata.rows(services.open_metadata(record=record, master_key=master_key, request=request))
    except REFUSALS:  # a replaced vault or a damaged field: the page still shows the rest
        return []


@sensitive_variables("master_key")
@login_required
def detail(request, pk):
    from compression.evaluation.plots import candidates_svg

    record = get_image_for(request.user, pk)
    services.reveal_figures_for(request, [record])  # locked: the columns' coarse values, worded as such
    won = presentation.winner_index(record)
    ssimulacra2_measured = any(c.get("ssimulacra2") is not None for c in record.candidates or [])
    context = {
        "record": record,
        "rd_svg": candidates_svg(
            record.candidates, record.width, record.height, chosen=None if won is None else record.candidates[won],
            metric="ssimulacra2" if ssimulacra2_measured else "psnr",
        ),
        "winner_index": won,
        "params_shown": presentation.shown_params(record),
        "decided": presentation.decided_text(record),
        "plain_reason": presentation.plain_reason(record),
        "msssim_measured": any(c.get("msssim") is not None for c in record.candidates or []),
        "ssimulacra2_measured": ssimulacra2_measured,
        "unlocked": sessions.session_master_key(request) is not None,
        "shares": shares_for(request.user, record),
        "share_form": ShareCreateForm(),
        "recompress_form": RecompressForm.for_record(record),
        "photo_rows": _photo_rows(request, record),
        "preview_variant": presentation.preview_variant(record),
    }
    return render(request, "vault/detail.html", context)


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
    if not record.original_kept:
        messages.info(request, f"'{record.name}' was stored in storage-saver mode: its original was not kept, so there is nothing to compare with.")
        return redirect("vault:detail", pk=record.pk)
    services.reveal_figures(records=[record], master_key=sessions.master_key_for(request), request=request)
    return render(request, "vault/compare.html", {"record": record, "vault_urls": True})


# What `image_file` can serve: stored variants as they are, and forms every browser can show.
FILE_VARIANTS = ("original", "compressed", "thumbnail", "decoded", "original-display", "compressed-display", "difference")


@sensitive_variables("master_key", "data")
@login_required
@require_GET
def image_file(request, pk, variant):
    """One decrypted image per URL, so pages reference pictures with <img src> instead of carrying
    them inline. no-store (and private): neither the browser cache nor a proxy keeps plaintext."""
    if variant not in FILE_VARIANTS:
        raise Http404(f"No variant {variant!r}.")
    record = get_image_for(request.user, pk)
    master_key = sessions.master_key_for(request)
    try:
        if variant == "difference":
            response = difference.difference_response(record, services.open_variants(
                record=record, master_key=master_key, variants=["original", "compressed"], request=request))
        else:
            data = services.open_variant(record=record, master_key=master_key, variant=stored_variant(variant, record), request=request)
            response = file_response(record, variant, data)
    except REFUSALS as exc:  # in words, for whoever opens the URL itself
        return text_or_json(request, refusal_status(exc), refusal_text(exc))
    if request.GET.get("download") != "1":
        response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline", 1)
    return response


@sensitive_variables("master_key")
@login_required
@never_cache
@require_POST
def bulk(request):
    """The gallery's "select several": export them as one streamed zip, or delete them (after a
    confirmation page listing what goes: to the trash, or for good)."""
    ids = request.POST.getlist("ids")
    if not ids:
        messages.error(request, "Select at least one image first.")
        return redirect("vault:gallery")
    records = [get_image_for(request.user, pk) for pk in ids]  # another user's id: 404
    action = request.POST.get("action")
    if action == "zip":
        return export_response(records=records, master_key=sessions.master_key_for(request), request=request)
    if action == "delete" and request.POST.get("confirm") == "yes":
        permanent = request.POST.get("permanent") == "1"
        for record in records:
            if permanent:
                services.delete_image(record=record, request=request)
            else:
                services.move_to_trash(record=record, request=request)
        n = f"{len(records)} image{'s' if len(records) != 1 else ''}"
        if permanent:
            messages.success(request, f"Deleted {n} and their encrypted files for good.")
        else:
            messages.success(request, f"Moved {n} to the trash; you can restore them for {_retention_days()} days.")
        return redirect("vault:gallery")
    if action == "delete":
        return render(request, "vault/bulk_delete.html", {"records": records, "retention_days": _retention_days()})
    return text_or_json(request, 400, f"Unknown action {action!r}; use zip or delete.")


def _retention_days() -> int:
    return settings.TRASH_RETENTION.days


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, pk):
    """To the trash (restorable), or for good with `permanent=1` (and always from the trash)."""
    record = get_image_for(request.user, pk)
    if request.method == "POST":
        name = record.name
        if request.POST.get("permanent") == "1" or record.in_trash:
            services.delete_image(record=record, request=request)
            messages.success(request, f"Deleted '{name}' and its encrypted files for good.")
            return redirect("vault:trash" if record.in_trash else "vault:gallery")
        services.move_to_trash(record=record, request=request)
        messages.success(request, format_html(
            "Moved '{}' to the trash; it is deleted for good after {} days. <a href=\"{}\">Open the trash</a>.",
            name, _retention_days(), reverse("vault:trash"),
        ))
        return redirect("vault:gallery")
    return render(request, "vault/delete.html", {"record": record, "retention_days": _retention_days()})
