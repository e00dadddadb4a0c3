"""What the vault's page modules share: the one mapping from a refusal of the domain to what a page
answers, and the `next` address a page may send the person back to.

A refusal is a `vault.errors.VaultError` (its `status` and `retry_after` say how to answer) or a
service's `ValidationError` (400). Pages answer it where the person is: the same page again with
the reason (`render_refused`), or a message on the page they are sent back to (`message_refused`).
"""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from vault.errors import VaultError, VaultLocked

# VaultLocked is a VaultError but no refusal a page shows: it goes on to VaultSessionMiddleware,
# which asks for the password and comes back to the page.
REFUSALS = (ValidationError, VaultError)


def refusal_status(exc: Exception) -> int:
    return 400 if isinstance(exc, ValidationError) else exc.status


def refusal_text(exc: Exception) -> str:
    """The words a person reads; a VaultLocked caught with the refusals is raised again."""
    if isinstance(exc, VaultLocked):
        raise exc
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def render_refused(request, template: str, context: dict, exc: Exception, *, form=None, text: str | None = None):
    """`template` again saying why (on `form`'s errors, else as `error`), with the refusal's status
    and Retry-After. `text` replaces the refusal's own words where a page words it for itself."""
    text = text or refusal_text(exc)
    if form is not None:
        form.add_error(None, text)
    else:
        context = {**context, "error": text}
    response = render(request, template, context, status=refusal_status(exc))
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)
    return response


def message_refused(request, exc: Exception) -> None:
    """The refusal as an error message on the next page the person sees."""
    messages.error(request, refusal_text(exc))


def safe_next(request, fallback: str) -> str:
    """The form's or the query's `next`, if it stays on this site; `fallback` otherwise."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback
