"""Step-up ("sudo mode"): actions that would turn a stolen session into lasting access — minting an
API token, replacing the recovery key, sharing an image (a share opens the original), changing the
password, turning two-factor on or off, and the export and account deletion built elsewhere — need
the password (or a two-factor code) typed within the last `STEPUP_WINDOW`, not just a session.

Why: a copied cookie pair (`sessionid` + `vault_key`) opens the vault for as long as the session
lives, which the README admits; without this check it could also mint a 90-day token or a recovery
key, access that outlives the session, the logout and the idle lock.

Pages: `require_recent_auth` asks on the spot. A POST that lacks a recent confirmation is answered
with a password prompt (403) that posts the same form again with the password added, so the action
goes on once confirmed; a GET prompt confirms through `confirm` and comes back. The API:
`check_recent_auth` raises `StepUpRequired` (403, `code: "step_up_required"`) unless the session
confirmed recently, the token was minted within the window (its grant asked for the password), or
the request itself carries `password` (and `otp_token` for a two-factor account).
"""
from __future__ import annotations

import functools
import time

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from rest_framework import status as http_status
from rest_framework.exceptions import APIException

from accounts import twofactor
from accounts.models import ApiToken
from audit.events import record_event
from audit.models import AuditEvent
from vault import keyring
from vault.errors import PasswordLocked, WrongSecret

SESSION_KEY = "recent_auth_at"
# Fields of the prompt; never replayed into the confirmed form, never logged (see the views' sensitive_post_parameters).
PASSWORD_FIELD = "stepup_password"
CODE_FIELD = "stepup_code"
_NOT_REPLAYED = {"csrfmiddlewaretoken", PASSWORD_FIELD, CODE_FIELD}
_SECRET_WORDS = ("password", "key", "code", "token", "otp")


class StepUpRequired(APIException):
    """The API's answer to a sensitive request without a recent password entry."""

    status_code = http_status.HTTP_403_FORBIDDEN
    default_code = "step_up_required"
    client_code = default_code
    default_detail = (
        "This action needs your password again: send it as \"password\" in this request (and your "
        "two-factor code as \"otp_token\" if your account uses one), or confirm it on the website first."
    )


def window_seconds() -> float:
    return settings.STEPUP_WINDOW.total_seconds()


def mark_recent_auth(request) -> None:
    """The person just typed their password (or a second factor): a login, a password change, a
    confirmation. Kept in the server-side session only."""
    session = getattr(request, "session", None)
    if session is not None:
        session[SESSION_KEY] = int(time.time())


def has_recent_auth(request) -> bool:
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        # The token grant asked for the password (and the code); an older token, like a cookie,
        # proves only possession.
        return token.created is not None and (timezone.now() - token.created).total_seconds() <= window_seconds()
    session = getattr(request, "session", None)
    at = session.get(SESSION_KEY) if session is not None else None
    return at is not None and 0 <= time.time() - int(at) <= window_seconds()


@sensitive_variables("password", "code")
def confirm(request, *, user, password: str = "", code: str = "") -> None:
    """Check the password, or a two-factor code of an account that has one, against the login's
    budget of guesses; `WrongSecret` or `PasswordLocked` otherwise. Success is remembered for the
    session and audited."""
    if password:
        keyring.check_account_password(user=user, password=password, request=request, purpose="step-up")
        how = "password"
    elif code and twofactor.enabled(user):
        if twofactor.verify_code(user=user, code=code, request=request, purpose="step-up") is None:
            raise WrongSecret("That code is not right (or was already used).")
        how = "two-factor code"
    else:
        raise WrongSecret("Enter your password" + (" or a two-factor code." if twofactor.enabled(user) else "."))
    mark_recent_auth(request)
    record_event(action=AuditEvent.Action.STEP_UP, request=request, user=user, detail=f"Confirmed with the {how} for a sensitive action.")


def prompt(request, *, error: str = "", status: int = 403, action: str | None = None, next_url: str = "", retry_after=None):
    """The password prompt: posting to `action` with the original form's fields (a refused POST),
    or to `confirm` and back to `next_url` (a page that was only opened)."""
    # The refused form's fields go back into the prompt so the action can go on; never a secret
    # (a password, key or one-time code does not belong in a page's HTML): those are typed again.
    replay = [] if action is None else [
        (name, value) for name in request.POST for value in request.POST.getlist(name)
        if name not in _NOT_REPLAYED and not any(word in name.lower() for word in _SECRET_WORDS)
    ]
    context = {
        "error": error, "action": action, "replay": replay, "next": next_url, "window": settings.STEPUP_WINDOW,
        "two_factor": twofactor.enabled(request.user),
    }
    response = render(request, "accounts/stepup.html", context, status=status)
    response["Cache-Control"] = "no-store"
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def require_recent_auth(view):
    """Page decorator (put it under `login_required`): the view runs only after a recent password
    or two-factor entry; otherwise the person is asked on the spot and the action goes on."""

    @functools.wraps(view)
    @sensitive_variables("password", "code")
    def wrapped(request, *args, **kwargs):
        if has_recent_auth(request):
            return view(request, *args, **kwargs)
        if request.method != "POST":
            return prompt(request, status=200, next_url=request.get_full_path())
        password, code = request.POST.get(PASSWORD_FIELD, ""), request.POST.get(CODE_FIELD, "").strip()
        if password or code:
            try:
                confirm(request, user=request.user, password=password, code=code)
            except PasswordLocked as exc:
                return prompt(request, error=str(exc), status=exc.status, action=request.path, retry_after=exc.retry_after)
            except WrongSecret as exc:
                return prompt(request, error=str(exc), action=request.path)
            return view(request, *args, **kwargs)
        return prompt(request, action=request.path)

    return wrapped


@sensitive_variables("password", "code")
def check_recent_auth(request) -> None:
    """For API views: return when the request may act, raise `StepUpRequired` (403) when it must
    confirm first, `WrongSecret` (403) or `PasswordLocked` (429) when the password it sent is refused."""
    if has_recent_auth(request):
        return
    data = request.data if hasattr(request.data, "get") else {}
    password, code = str(data.get("password") or ""), str(data.get("otp_token") or "").strip()
    if not password:
        raise StepUpRequired()
    user = request.user
    keyring.check_account_password(user=user, password=password, request=request, purpose="step-up")
    if twofactor.enabled(user) and twofactor.verify_code(user=user, code=code, request=request, purpose="step-up") is None:
        raise WrongSecret("This account uses two-factor authentication: send a current code as \"otp_token\" with the password.")
    if getattr(request, "session", None) is not None and not isinstance(getattr(request, "auth", None), ApiToken):
        mark_recent_auth(request)
