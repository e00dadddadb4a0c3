"""Business logic for accounts: API tokens.

accounts depends on vault (a token carries its own wrap of the vault key), never the reverse."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import ApiToken
from accounts.tokens import PREFIX_LENGTH, generate_token, token_digest
from audit.events import record_event
from audit.models import AuditEvent
from audit.notify import notify_user
from vault.sessions import wrap_for_token


def _actor(*, request, user):
    # The person acting: the logged-in requester (e.g. an admin revoking someone's token) when
    # there is one, else the token owner.
    requester = getattr(request, "user", None) if request is not None else None
    return requester if requester is not None and requester.is_authenticated else user


def _delete_dead_tokens(*, user, now) -> None:
    # Expired tokens can never work again; removing them keeps them from counting to the limit.
    idle_cutoff = now - settings.API_TOKEN_IDLE_TIMEOUT
    ApiToken.objects.filter(user=user).filter(
        Q(expires__lte=now) | Q(last_used__lte=idle_cutoff) | Q(last_used__isnull=True, created__lte=idle_cutoff)
    ).delete()


@sensitive_variables("plaintext", "master_key")
@transaction.atomic
def create_api_token(
    *, user, name: str, scope: str = ApiToken.Scope.READ_WRITE, request=None, master_key: bytes | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user` and return it with its plaintext, which is never stored:
    the caller shows it once and then it is gone. Refuses (ValidationError) past
    API_TOKEN_MAX_PER_USER live tokens, so a leaked password cannot mint tokens without bound.

    With the owner's vault master key (the caller has it while the vault is unlocked), the token
    gets its own wrap of it, so the token alone can open the vault; without, it can only read
    metadata."""
    now = timezone.now()
    _delete_dead_tokens(user=user, now=now)
    limit = settings.API_TOKEN_MAX_PER_USER
    # Locks the user's row so two concurrent requests cannot both pass the count.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if ApiToken.objects.filter(user=user).count() >= limit:
        raise ValidationError(
            f"You already have {limit} API tokens, the most allowed. Revoke one on your profile page first.",
            code="too_many_tokens",
        )
    if scope not in ApiToken.Scope.values:
        raise ValidationError(
            f'Unknown token scope "{scope}": use one of {", ".join(ApiToken.Scope.values)}.', code="scope"
        )
    plaintext = generate_token()
    token = ApiToken(
        user=user,
        name=(name or "").strip(),
        prefix=plaintext[:PREFIX_LENGTH],
        digest=token_digest(plaintext),
        scope=scope,
        expires=now + settings.API_TOKEN_LIFETIME,
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
        detail=(
            f'API token "{token.name}" (id {token.pk}, {token.get_scope_display().lower()}) created '
            f'for user "{user.get_username()}".'
        ),
    )
    # A token outlives the session that made it: the owner hears of every one.
    transaction.on_commit(lambda: notify_user(
        user, subject="A new API token was created",
        body=(f'An API token "{token.name}" ({token.get_scope_display().lower()}, starting with {token.prefix}) was '
              "created for your account. If this was not you, revoke it on your profile page and change your password."),
    ))
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
def revoke_all_api_tokens(*, user, request=None, reason: str) -> int:
    """Delete every token of `user`, and with them their vault wraps (their password changed:
    whoever had it may have made tokens)."""
    count, _ = ApiToken.objects.filter(user=user).delete()
    if count:
        record_event(
            action=AuditEvent.Action.TOKEN_REVOKED,
            request=request,
            user=_actor(request=request, user=user),
            detail=f'All {count} API token(s) of user "{user.get_username()}" revoked: {reason}.',
        )
    return count
