"""DRF authentication with personal API tokens: `Authorization: Token <token>`."""
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.selectors import api_token_by_plaintext
from accounts.services import touch_api_token


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not ours: let the next authenticator (session) try
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _('Invalid Authorization header: expected "Token <token>" with no spaces in the token.')
            )
        try:
            raw = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token: it contains non-ASCII characters."))
        token = api_token_by_plaintext(token=raw)
        # Unknown and revoked tokens are the same thing (revocation deletes the row), and the
        # message never echoes the token back, since error messages end up in logs.
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This account is inactive."))
        expired = token.expiry_reason(now=timezone.now(), idle_timeout=settings.API_TOKEN_IDLE_TIMEOUT)
        if expired:
            raise exceptions.AuthenticationFailed(expired)
        touch_api_token(token=token)
        # Kept on the in-memory token only (never saved): it derives the key that unwraps the
        # vault's master key for this one request.
        token.secret = raw
        return token.user, token

    def authenticate_header(self, request):
        # A non-empty value makes DRF answer 401 (not 403) to unauthenticated API calls.
        return self.keyword
