"""The page a share link opens, for whoever holds it (no account needed).

The link carries the key in its fragment, which browsers never send: the page's script copies it
into the form and sends it once (POST). A right key is then kept in a cookie that only this
share's addresses receive (HttpOnly, SameSite=Strict, gone when the share expires or after
`COOKIE_HOURS`), so the page can show the picture and offer the downloads as plain links and
`<img>`s. The server still stores no key: the cookie lives in the recipient's browser, and every
request under it is checked again like a typed key.

Unknown, revoked and expired links all get the same "opens nothing" page on arrival, before any
key is asked for, and nothing about the image or who shared it.
"""
from datetime import timedelta

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from portal.errors import text_or_json
from vault import presentation, services
from vault.errors import OriginalNotKept, RetrievalRefused, ShareUnavailable
from vault.forms import ShareOpenForm
from vault.responses import SHARE_KEY_REFUSED, file_response
from vault.views.common import REFUSALS, refusal_status, refusal_text, render_refused

COOKIE = "share_key"
COOKIE_HOURS = 8
# What the share page links to: the picture it shows, and the downloads.
SHARE_FILES = ("picture", "original", "compressed", "decoded")


def _cookie_path(public_id: str) -> str:
    return reverse("vault:share", args=[public_id])


def _unavailable(request):
    return render(request, "vault/share_unavailable.html", status=404)


def _with_referrer_policy(response):
    response["Referrer-Policy"] = "no-referrer"
    return response


def _view_context(share) -> dict:
    record = share.record
    # The picture is the compressed version where there is one (smaller, and what was shared as
    # the result); an image still compressing shows its original.
    return {
        "share": share, "record": record, "sharer": record.owner.get_username(),
        "picture_is_compressed": record.has_compressed,
        # Codecs browsers cannot read (.msc, JPEG XL) come as a PNG too.
        "offers_png": record.has_compressed and record.compressed_media_type not in presentation.SHOWN_AS_IS,
    }


@sensitive_post_parameters("key")
@sensitive_variables("key", "data_key", "opened")
@never_cache
@require_http_methods(["GET", "POST"])
def share_page(request, public_id):
    """GET: "opens nothing", the key form, or (with the key's cookie) the image's page. POST with
    `variant=open`: check the key and come back to the image's page; with a file variant: that
    file's bytes, for clients that post the key each time (the page itself never does)."""
    try:
        share = services.live_share(public_id)
    except ShareUnavailable:
        return _with_referrer_policy(_unavailable(request))
    if request.method == "GET":
        key = request.COOKIES.get(COOKIE)
        if key:
            try:
                share, _data_key = services.unlock_share(public_id=public_id, key=key, request=request)
            except REFUSALS:
                response = render(request, "vault/share.html", {"form": ShareOpenForm(initial={"variant": "open"})})
                response.delete_cookie(COOKIE, path=_cookie_path(public_id))
                return _with_referrer_policy(response)
            return _with_referrer_policy(render(request, "vault/share_view.html", _view_context(share)))
        return render(request, "vault/share.html", {"form": ShareOpenForm(initial={"variant": "open"})})

    form = ShareOpenForm(request.POST)
    if not form.is_valid():
        return render(request, "vault/share.html", {"form": form}, status=400)
    variant = form.cleaned_data["variant"]
    try:
        if variant == "open":
            share, _data_key = services.unlock_share(public_id=public_id, key=form.cleaned_data["key"], request=request)
            response = redirect(_cookie_path(public_id), permanent=False)
            response.status_code = 303
            _set_key_cookie(request, response, share, form.cleaned_data["key"])
            return response
        try:
            share, opened = services.open_share(public_id=public_id, key=form.cleaned_data["key"], variants=[variant], request=request)
        except OriginalNotKept:
            if variant != "display":
                raise  # the original of a storage-saver image: 410 in words
            variant = "compressed-display"  # what is kept of it
            share, opened = services.open_share(public_id=public_id, key=form.cleaned_data["key"], variants=[variant], request=request)
        response = file_response(share.record, variant, opened[variant])
    except ShareUnavailable:
        return _with_referrer_policy(_unavailable(request))
    except RetrievalRefused as exc:
        return render_refused(request, "vault/share.html", {"form": form}, exc, text=SHARE_KEY_REFUSED)
    except REFUSALS as exc:
        return render_refused(request, "vault/share.html", {"form": form}, exc)
    return _with_referrer_policy(response)


@sensitive_variables("key")
def _set_key_cookie(request, response, share, key: str) -> None:
    lifetime = timedelta(hours=COOKIE_HOURS)
    if share.expires_at is not None:
        lifetime = min(lifetime, share.expires_at - timezone.now())
    response.set_cookie(
        COOKIE, key, max_age=max(1, int(lifetime.total_seconds())), path=_cookie_path(share.public_id),
        httponly=True, samesite="Strict", secure=request.is_secure() or settings.SESSION_COOKIE_SECURE,
    )


@sensitive_variables("key", "opened")
@never_cache
@require_GET
def share_file(request, public_id, what):
    """One file of the share for the page holding its key's cookie: the picture it shows
    (inline), or a download."""
    if what not in SHARE_FILES:
        raise Http404(f"No file {what!r} in a share.")
    key = request.COOKIES.get(COOKIE)
    if not key:
        return text_or_json(request, 403, "Open the share link again: this browser holds no key for it.")
    try:
        share = services.live_share(public_id)
        variant = what
        if what == "picture":
            variant = "compressed-display" if share.record.has_compressed else "display"
        share, opened = services.open_share(public_id=public_id, key=key, variants=[variant], request=request)
        response = file_response(share.record, variant, opened[variant])
    except RetrievalRefused:
        return text_or_json(request, 403, SHARE_KEY_REFUSED)
    except REFUSALS as exc:
        return text_or_json(request, refusal_status(exc), refusal_text(exc))
    return _with_referrer_policy(response)
