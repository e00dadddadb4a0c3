"""What the portal does when a person's master key (MK) arrives with a page request: a login, an
unlock, a new vault or a password change. The session keeps MK (`vault.sessions`), and the images
`recompress_learned` flagged are queued, since this is the one moment the server holds this
user's MK without being asked for an image."""
from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from vault import keyring, sessions
from vault.jobs.dispatch import queue_flagged


@sensitive_variables("master_key")
def open_vault_session(request, *, master_key: bytes) -> None:
    sessions.open_session(request, master_key=master_key)
    queue_flagged(owner=request.user, master_key=master_key, request=request)


@sensitive_variables("password")
def unlock_at_login(request, *, user, password: str) -> keyring.LoginOutcome:
    """After the login form checked the password: the vault opened (or created) with it, and a
    session holding its MK."""
    outcome = keyring.open_or_create_vault(user=user, password=password, request=request)
    if outcome.master_key is not None:
        open_vault_session(request, master_key=outcome.master_key)
    return outcome
