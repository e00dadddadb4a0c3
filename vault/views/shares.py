"""Shares, the owner's side: made on an image's page, revoked after a confirmation. The page the
link opens for its recipient is vault/views/share_page.py."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from portal import stepup
from vault import services, sessions
from vault.forms import ShareCreateForm
from vault.responses import share_link
from vault.selectors import get_image_for, get_share_for
from vault.views.common import REFUSALS, message_refused, safe_next


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
@require_http_methods(["GET", "POST"])
def share_revoke(request, pk, share_id):
    """A confirmation page first (the revoke buttons link here): a revoked link cannot be brought
    back, only replaced by a new one that must be sent again. A POST without `confirm=yes` shows it too."""
    record = get_image_for(request.user, pk)
    share = get_share_for(request.user, record, share_id)
    back = safe_next(request, reverse("vault:detail", args=[record.pk]))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        services.revoke_share(share=share, request=request)
        messages.success(request, "Share revoked: its link and key open nothing any more.")
        return redirect(back)
    return render(request, "vault/share_revoke.html", {"record": record, "share": share, "next": back})
