"""DRF permission enforcing an API token's scope."""
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiToken


class TokenScopePermission(BasePermission):
    """A read-only token may read (GET/HEAD/OPTIONS, and the actions a view lists in
    `token_read_actions`, e.g. a download that is a POST because the key travels in its body);
    it may never upload, change or delete. Session logins are not limited by this."""

    message = "This API token is read-only: it cannot upload, change or delete. Use a read-write token."

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken) or token.scope != ApiToken.Scope.READ:
            return True
        if request.method in SAFE_METHODS:
            return True
        return getattr(view, "action", None) in getattr(view, "token_read_actions", ())
