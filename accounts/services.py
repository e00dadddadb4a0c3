"""Business logic for accounts: API tokens."""
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.audit import record_event
from accounts.models import ApiToken, AuditEvent
from accounts.tokens import PREFIX_LENGTH, generate_token, token_digest


def _actor(*, request, user):
    # The person acting: the logged-in requester (e.g. an admin revoking someone's token) when
    # there is one, else the token owner.
    requester = getattr(request, "user", None) if request is not None else None
    return requester if requester is not None and requester.is_authenticated else user


@sensitive_variables("plaintext", "master_key")
@transaction.atomic
def create_api_token(*, user, name: str, request=None, master_key: bytes | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user` and return it with its plaintext, which is never stored:
    the caller shows it once and then it is gone.

    With the owner's vault master key (the caller has it while the vault is unlocked), the token
    gets its own wrap of it, so the token alone can open the vault; without, it can only read
    metadata."""
    from vault.keyring import wrap_for_token  # the vault app depends on accounts, not the reverse

    plaintext = generate_token()
    token = ApiToken(
        user=user,
        name=(name or "").strip(),
        prefix=plaintext[:PREFIX_LENGTH],
        digest=token_digest(plaintext),
    )
    token.full_clean()
    token.save()
    if master_key is not None:
        # Bound to the token's id: a wrap copied onto another token row does not open.
        token.master_key_wrap = wrap_for_token(master_key=master_key, token_secret=plaintext, token_id=token.pk, user_id=user.pk)
        token.save(update_fields=["master_key_wrap"])
    record_event(
        action=AuditEvent.Action.TOKEN_CREATED,
        request=request,
        user=_actor(request=request, user=user),
        detail=f'API token "{token.name}" (id {token.pk}) created for user "{user.get_username()}".',
    )
    return token, plaintext


@transaction.atomic
def revoke_api_token(*, user, token_id, request=None) -> None:
    """Delete one of `user`'s tokens. Another user's token id is indistinguishable from a
    missing one (404), so ids cannot be probed."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise Http404("No such API token.")
    detail = f'API token "{token.name}" (id {token.pk}) of user "{user.get_username()}" revoked.'
    token.delete()
    record_event(
        action=AuditEvent.Action.TOKEN_REVOKED,
        request=request,
        user=_actor(request=request, user=user),
        detail=detail,
    )


def touch_api_token(*, token: ApiToken) -> None:
    """Record use, at most once a minute per token, so busy clients don't write on every call."""
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() >= 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now


@transaction.atomic
def revoke_all_api_tokens(*, user, request=None, why: str) -> int:
    """Delete every token of `user` (and with them their vault wraps)."""
    count, _ = ApiToken.objects.filter(user=user).delete()
    if count:
        record_event(
            action=AuditEvent.Action.TOKEN_REVOKED,
            request=request,
            user=_actor(request=request, user=user),
            detail=f'{count} API token(s) of user "{user.get_username()}" revoked: {why}.',
        )
    return count
