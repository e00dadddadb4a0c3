"""Keeps the browser's vault cookie in step with the server-side session, and locks idle vaults."""
from urllib.parse import quote

from django.conf import settings
from django.db import DatabaseError
from django.shortcuts import redirect
from django.urls import reverse

from portal.errors import error_response, is_api
from vault import sessions
from vault.errors import StorageFull, VaultLocked


class VaultSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sessions.expire_if_idle(request)
        response = self.get_response(request)
        cookie = getattr(request, "vault_cookie", None)
        if cookie:
            # A session cookie (no max_age): it dies with the browser. HttpOnly: page scripts (and
            # so an XSS) cannot read it. SameSite=Lax like the session cookie: links from elsewhere
            # still open images, cross-site POSTs do not carry it. Secure wherever sessions are.
            response.set_cookie(
                sessions.COOKIE_NAME, cookie, httponly=True, secure=settings.SESSION_COOKIE_SECURE,
                samesite="Lax", path="/",
            )
        elif sessions.COOKIE_NAME in request.COOKIES and (
            cookie == "" or not hasattr(request, "session")
            or not (sessions.SESSION_SEALED in request.session or sessions.SESSION_PENDING in request.session)
        ):
            # Locked, logged out or expired: the secret is useless now, and not keeping it is cheap.
            response.delete_cookie(sessions.COOKIE_NAME, path="/", samesite="Lax")
        return response

    def process_exception(self, request, exception):
        # Pages that need the vault raise VaultLocked; the person is asked for their password (not
        # a new login) and comes back to the page they wanted.
        if isinstance(exception, VaultLocked) and not is_api(request):
            return redirect(f"{reverse('vault:unlock-vault')}?next={quote(request.get_full_path())}")
        # Any page whose write storage refused (the API's handler answers its own): the page says
        # what to do instead of a server error. Nothing partial was kept (blobs.write_whole).
        if isinstance(exception, DatabaseError):
            exception = StorageFull.from_database_error(exception) or exception
        if isinstance(exception, StorageFull):
            return error_response(request, StorageFull.status, detail=str(exception))
        return None
