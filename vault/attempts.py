"""The one budget of password guesses: every check of an account's password or second factor
outside the login form (password change, vault unlock, step-up prompt, a reset's recovery key, a
two-factor code) is counted by django-axes exactly like a failed login.

Why axes and not a counter of our own: the login already spends this budget per account and client
address (`AXES_LOCKOUT_PARAMETERS`), so guesses spread over the login, the change form and the
unlock page add up to one lockout instead of five separate ones, and operators see and reset every
lockout in one place (`axes_reset`, the admin).

A lockout refuses the *attempt* (`PasswordLocked`, 429) before the secret is even checked; it never
changes a password, a wrap or a vault. Because the budget is per account *and* client address, a
stranger's wrong guesses lock only the stranger's own address out of that account.
"""
from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.contrib.auth.signals import user_login_failed
from django.views.decorators.debug import sensitive_variables

from vault.errors import PasswordLocked, WrongSecret


def _credentials(user) -> dict:
    return {"username": user.get_username()}


def _cool_off_seconds(request) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 3600


def refuse_if_locked(request, *, user) -> None:
    """`PasswordLocked` while this client is locked out of `user`'s account."""
    if request is not None and AxesProxyHandler.is_locked(request, _credentials(user)):
        raise PasswordLocked(_cool_off_seconds(request))


def count_failure(request, *, user, purpose: str) -> None:
    """One wrong secret for `user` from this client, counted as a failed login (and audited by the
    receiver of `user_login_failed`, which words it with `purpose`); `PasswordLocked` when this one
    used up the budget."""
    if request is None:
        return
    user_login_failed.send(sender=__name__, credentials={**_credentials(user), "purpose": purpose}, request=request)
    refuse_if_locked(request, user=user)


@sensitive_variables("password")
def check_password(*, user, password: str, request, purpose: str) -> None:
    """`WrongSecret` unless `password` is the account's; `PasswordLocked` (before checking it) while
    this client is locked out. Outside a request (a shell, a service test) nothing is counted."""
    refuse_if_locked(request, user=user)
    if user.check_password(password):
        return
    count_failure(request, user=user, purpose=purpose)
    raise WrongSecret("That password is not right.")
