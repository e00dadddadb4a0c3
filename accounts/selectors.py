"""Reads for accounts."""
from django.db.models import QuerySet

from accounts.models import ApiToken
from accounts.tokens import token_digest
from audit.models import AuditEvent


def api_tokens_for_user(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created", "-id")


def api_token_by_plaintext(*, token: str) -> ApiToken | None:
    """The active token matching `token`, with its user, or None."""
    return ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()



# What a person should see about their own account: who logged in, confirmed a password, made or
# revoked a token, replaced a key, changed two-factor (a stolen session's traces, among others).
SECURITY_ACTIONS = ("login", "step_up", "token_created", "token_revoked", "vault_created", "vault_rewrapped", "two_factor")


def security_events_for(*, user, limit: int = 12) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(actor=user, action__in=SECURITY_ACTIONS).order_by("-created", "-id")[:limit]
