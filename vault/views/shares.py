"""Shares: the owner makes and revokes them on an image's page; anyone with the link and its key
opens that one image on the share page, without an account."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from portal import stepup
from vault import services, sessions
from vault.errors import OriginalNotKept, RetrievalRefused
from vault.forms import ShareCreateForm, ShareOpenForm
from vault.responses import SHARE_KEY_REFUSED, file_response, share_link
from vault.selectors import get_image_for, get_share_for
from vault.views.common import REFUSALS, message_refused, render_refused, safe_next


@sensitive_post_parameters(stepup.PASSWORD_FIELD, stepup.CODE_FIELD)
@sensitive_variables("master_key", "key")
@login_required
@never_cache
@require_POST
@stepup.require_recent_auth
def share_create(request, pk):
    # Step-up: a share key opens the original for anyone, beyond the session's end.
    record = get_image_for(request.user, pk)
    form = ShareCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items()))
        return redirect("vault:detail", pk=record.pk)
    master_key = sessions.master_key_for(request)
    try:
        share, key = services.create_share(
            record=record, master_key=master_key, label=form.cleaned_data["label"], expires_at=form.expires_at(), request=request,
            include_location=form.cleaned_data["include_location"],
        )
    except REFUSALS as exc:
        message_refused(request, exc)
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
    return redirect(safe_next(request, reverse("vault:detail", args=[record.pk])))


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
    try:
        try:
            share, opened = services.open_share(public_id=public_id, key=form.cleaned_data["key"], variants=[variant], request=request)
        except OriginalNotKept:
            if variant != "display":
                raise  # "Download the original" of a storage-saver image: 410 in words
            # "Show the image" of a storage-saver image: what is kept, its compressed version.
            variant = "compressed-display"
            share, opened = services.open_share(public_id=public_id, key=form.cleaned_data["key"], variants=[variant], request=request)
        response = file_response(share.record, variant, opened[variant])
    except RetrievalRefused as exc:
        return render_refused(request, "vault/share.html", {"form": form}, exc, text=SHARE_KEY_REFUSED)
    except REFUSALS as exc:
        return render_refused(request, "vault/share.html", {"form": form}, exc)
    response["Referrer-Policy"] = "no-referrer"
    return response
