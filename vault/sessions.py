"""Custody of the master key (MK) between requests: a browser session's cookie and sealed copy, and
an API token's own wrap of MK. Which MK a request holds, and nothing else: no side effects on
images or jobs (what the portal does when an MK arrives is `vault.unlocking`).

For a logged-in browser, MK is sealed into the server-side session under a random secret that
lives only in the browser's `vault_key` cookie; an API token's secret unwraps its own wrap of MK.
A database dump (sessions included) therefore holds no usable MK, and a stolen cookie without the
database holds none either.
"""
from __future__ import annotations

import base64
import binascii
import os
import time

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from vault import crypto
from vault.errors import VaultLocked

# "key" in the name on purpose: Django's error reports hide cookies whose names look secret.
COOKIE_NAME = "vault_key"
SESSION_SEALED = "vault_sealed_mk"
SESSION_SEEN = "vault_seen"
# MK between a login's password and its second factor: sealed like a session's, for a person who
# is not logged in yet (see hold_pending).
SESSION_PENDING = "vault_pending_mk"
# How often an active session's "last seen" time is rewritten: not on every request, to spare the
# session store a write per thumbnail, at the cost of up to a minute of idle-timeout precision.
SEEN_RESOLUTION_S = 60


# --- API tokens -------------------------------------------------------------------------------


def _token_wrapping_key(token_secret: str) -> bytes:
    # The token is 256 random bits (43 url-safe characters), so HKDF suffices: nothing to slow down.
    return crypto.subkey(token_secret.encode("ascii"), purpose="token-wrap-v1")


@sensitive_variables("master_key", "token_secret")
def wrap_for_token(*, master_key: bytes, token_secret: str, token_id: int, user_id: int) -> bytes:
    return crypto.wrap_key(master_key, wrapping_key=_token_wrapping_key(token_secret), purpose="mk-token", ids=(user_id, token_id))


@sensitive_variables("token_secret")
def token_master_key(token) -> bytes | None:
    token_secret = getattr(token, "secret", None)
    if not token_secret or not token.master_key_wrap:
        return None
    try:
        return crypto.unwrap_key(
            token.master_key_wrap, wrapping_key=_token_wrapping_key(token_secret), purpose="mk-token",
            ids=(token.user_id, token.pk),
        )
    except crypto.SealError:
        return None


# --- browser sessions -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@sensitive_variables("master_key", "secret")
def open_session(request, *, master_key: bytes) -> None:
    """Keep MK for this login: a fresh random secret goes to the browser only (the response sets it
    as an HttpOnly cookie, see `VaultSessionMiddleware`); the session stores MK sealed under it."""
    secret = os.urandom(crypto.KEY_BYTES)
    sealed = crypto.wrap_key(
        master_key, wrapping_key=crypto.subkey(secret, purpose="session-v1"), purpose="mk-session", ids=(request.user.pk,)
    )
    request.session[SESSION_SEALED] = _b64(sealed)
    request.session[SESSION_SEEN] = int(time.time())
    request.vault_cookie = _b64(secret)


@sensitive_variables("master_key", "secret")
def hold_pending(request, *, master_key: bytes, user_id: int) -> None:
    """Keep MK from a login whose password was right while its second factor is asked: sealed in the
    session under a fresh secret that only the browser's cookie holds, bound to that user. The
    password unwraps MK; the code only decides whether the login happens."""
    secret = os.urandom(crypto.KEY_BYTES)
    sealed = crypto.wrap_key(master_key, wrapping_key=crypto.subkey(secret, purpose="session-v1"), purpose="mk-pending", ids=(user_id,))
    request.session[SESSION_PENDING] = _b64(sealed)
    request.vault_cookie = _b64(secret)


@sensitive_variables("secret")
def take_pending(request, *, user_id: int) -> bytes | None:
    """The MK `hold_pending` kept for `user_id`, removed from the session; None if there is none."""
    sealed = request.session.pop(SESSION_PENDING, None)
    secret_text = request.COOKIES.get(COOKIE_NAME)
    if not sealed or not secret_text:
        return None
    try:
        return crypto.unwrap_key(
            _unb64(sealed), wrapping_key=crypto.subkey(_unb64(secret_text), purpose="session-v1"), purpose="mk-pending", ids=(user_id,)
        )
    except (crypto.SealError, binascii.Error, ValueError):
        return None


def lock_session(request) -> None:
    if hasattr(request, "session"):
        request.session.pop(SESSION_SEALED, None)
        request.session.pop(SESSION_SEEN, None)
    request.vault_cookie = ""  # the middleware deletes the cookie


@sensitive_variables("secret")
def session_master_key(request) -> bytes | None:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return None
    secret_text = getattr(request, "vault_cookie", None)
    if secret_text is None:
        secret_text = request.COOKIES.get(COOKIE_NAME)
    sealed = session.get(SESSION_SEALED)
    if not secret_text or not sealed:
        return None
    try:
        secret = _unb64(secret_text)
        return crypto.unwrap_key(
            _unb64(sealed), wrapping_key=crypto.subkey(secret, purpose="session-v1"), purpose="mk-session", ids=(user.pk,)
        )
    except (crypto.SealError, binascii.Error, ValueError):
        return None


def master_key_for(request) -> bytes:
    """MK for this request from its API token or its browser session; `VaultLocked` otherwise."""
    auth = getattr(request, "auth", None)
    if auth is not None and hasattr(auth, "master_key_wrap"):
        master_key = token_master_key(auth)
        if master_key is None:
            raise VaultLocked(
                "This API token was created without access to your vault; create one with "
                "POST /api/v1/auth/token/ or on your profile page while your vault is unlocked."
            )
        return master_key
    master_key = session_master_key(request)
    if master_key is None:
        raise VaultLocked()
    return master_key


def expire_if_idle(request) -> None:
    session = getattr(request, "session", None)
    if session is None or COOKIE_NAME not in request.COOKIES:
        return
    seen = session.get(SESSION_SEEN)
    if seen is None:
        return
    now = int(time.time())
    if now - int(seen) > settings.VAULT_IDLE_TIMEOUT.total_seconds():
        lock_session(request)
    elif now - int(seen) >= SEEN_RESOLUTION_S:
        session[SESSION_SEEN] = now
