"""The vault's way out and its undo: exporting the whole vault as a streamed zip, and the trash
(restore, delete for good, "Empty trash now"). Deleting an image (vault/views/images.py) moves it
to the trash; the account's deletion is on the profile (accounts/views.py)."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import stepup
from vault import services, sessions
from vault.responses import export_response
from vault.selectors import get_image_for, images_for, trash_for
from vault.views.common import safe_next

TRASH_PAGE_SIZE = 50


@login_required
@require_GET
def trash(request):
    queryset = trash_for(request.user)
    page = Paginator(queryset, TRASH_PAGE_SIZE).get_page(request.GET.get("page"))
    records = list(page.object_list)
    services.reveal_figures_for(request, records)
    context = {
        "page": page, "records": records, "retention_days": settings.TRASH_RETENTION.days,
        "totals": queryset.aggregate(count=Count("id"), original=Sum("original_size"), stored=Sum("stored_bytes")),
    }
    return render(request, "vault/trash.html", context)


@login_required
@require_POST
def restore(request, pk):
    record = services.restore(record=get_image_for(request.user, pk), request=request)
    messages.success(request, f"Restored '{record.name}' to your gallery.")
    return redirect(safe_next(request, reverse("vault:trash")))


@login_required
@require_http_methods(["GET", "POST"])
def trash_empty(request):
    """"Empty trash now": a confirmation page, then every image in the trash deleted for good."""
    if request.method == "POST":
        count = services.empty_trash(owner=request.user, request=request)
        messages.success(request, f"Deleted {count} image{'s' if count != 1 else ''} from the trash for good.")
        return redirect("vault:trash")
    return render(request, "vault/trash_empty.html", {"count": trash_for(request.user).count()})


@login_required
@require_GET
def export(request):
    """What "Export my vault" gives, before the download starts."""
    mine = images_for(request.user)
    context = {
        "totals": mine.aggregate(
            count=Count("id"), original=Sum("original_size"),
            legacy=Count("id", filter=Q(dk_wrap__isnull=True)),
        ),
        "trash_count": trash_for(request.user).count(),
    }
    return render(request, "vault/export.html", context)


@sensitive_variables("master_key")
@login_required
@never_cache
@require_GET
@stepup.require_recent_auth  # a copied session cookie must not walk off with every original at once
def export_download(request):
    """The whole vault (the trash left out), oldest first, as one streamed zip. A locked vault
    sends the person to the password page and back here before a byte is sent."""
    master_key = sessions.master_key_for(request)
    records = images_for(request.user).order_by("created", "id").only("id")
    return export_response(records=records, master_key=master_key, request=request)
