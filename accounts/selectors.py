"""Reads for accounts."""
from django.db.models import QuerySet

from accounts.models import ApiToken
from accounts.tokens import token_digest


def api_tokens_for_user(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created", "-id")


def api_token_by_plaintext(*, token: str) -> ApiToken | None:
    """The active token matching `token`, with its user, or None."""
    return ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()

