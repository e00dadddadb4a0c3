"""Deleting an account: after its password is entered again, every image (trash included) with
its blobs, every share, every API token with its wrap of the master key, the vault's own wraps
and the user row go, in one transaction; the blobs are removed once it commits.

The one audit event it leaves holds no personal content: no username, no address, no file name,
only counts. (Earlier audit events stay, as the log is append-only: they name the account as it
was, and lose their link to the deleted user.)
"""
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts.models import ApiToken
from audit.events import record_event
from audit.models import AuditEvent
from vault import keyring
from vault.images.deletion import delete_all_images


@sensitive_variables("password")
def delete_account(*, user, password: str, request=None) -> dict[str, int]:
    """`WrongSecret` (403) for a wrong password, counted by django-axes like a login; else
    everything of the user is deleted and the counts of what went are returned."""
    keyring.check_account_password(user=user, password=password, request=request)
    with transaction.atomic():
        counts = delete_all_images(owner=user)
        counts["tokens"] = ApiToken.objects.filter(user=user).count()
        # Cascades to the vault (the master key's wraps), the tokens (their wraps) and the
        # retrieval guard; the audit log's rows keep their text and lose the link (SET_NULL).
        user.delete()
        record_event(
            action=AuditEvent.Action.ACCOUNT_DELETED,
            request=None,  # not the request: it would put the person's address in the event
            user=None,
            detail=(
                f"An account was deleted with {counts['images']} image(s) ({counts['blobs']} encrypted file(s)), "
                f"{counts['shares']} share(s) and {counts['tokens']} API token(s)."
            ),
        )
    return counts
