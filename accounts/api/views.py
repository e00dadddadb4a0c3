"""Token issuing for API clients: POST /api/v1/auth/token/ with username and password."""
from datetime import timedelta

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django_ratelimit.decorators import ratelimit
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import twofactor
from accounts.api.serializers import AuthErrorSerializer, IssuedTokenSerializer, ObtainTokenSerializer
from accounts.services import create_api_token
from vault.errors import PasswordLocked
from vault.keyring import open_or_create_vault
from vault.unlocking import seal_old_figures

API_TOKEN_NAME = "api"


def _lockout_detail(request) -> str:
    cool_off = get_cool_off(request)
    if isinstance(cool_off, timedelta) and cool_off.total_seconds() > 0:
        minutes = max(1, round(cool_off.total_seconds() / 60))
        return (
            "Too many failed login attempts: this account is locked for this address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
    return "Too many failed login attempts: this account is locked. Ask an administrator to unlock it."


def _token_rate(group, request):
    return settings.THROTTLE_TOKEN_CREATE


@method_decorator(sensitive_post_parameters("password", "otp_token"), name="dispatch")
class ObtainTokenView(APIView):
    # No session authentication means no CSRF: the credentials are in the body, not a cookie.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Obtain an API token",
        description=(
            "Exchange a username and password for a new personal API token. Each call creates a "
            "new token (named \"api\"), visible and revocable on the profile page. Repeated "
            "failures lock the account for this address (429). An account with two-factor "
            "authentication also needs `otp_token` (a current code or a recovery code): without it the "
            "answer is 401 with code \"otp_required\", with a wrong one 401 with code \"otp_invalid\"."
        ),
        request=ObtainTokenSerializer,
        responses={
            200: IssuedTokenSerializer,
            400: AuthErrorSerializer,
            401: AuthErrorSerializer,
            429: AuthErrorSerializer,
        },
        examples=[OpenApiExample("Credentials", value={"username": "alice", "password": "…"}, request_only=True)],
        tags=["auth"],
    )
    @method_decorator(ratelimit(key="ip", rate=_token_rate, method="POST", block=True))
    @method_decorator(sensitive_variables("outcome", "plaintext", "code"))
    def post(self, request):
        serializer = ObtainTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # authenticate() with the request, so django-axes counts failures and enforces lockouts.
        # The DRF request is passed on purpose: axes flags the lockout on it, and we answer JSON
        # here instead of AxesMiddleware replacing the response with the HTML lockout page.
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return Response({"detail": _lockout_detail(request)}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None:
            return Response(
                {"detail": "Unable to log in with the provided username and password."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if twofactor.enabled(user):
            # The password was right; a token is a login, so it needs the second factor too.
            code = serializer.validated_data.get("otp_token", "")
            if not code:
                return self._otp_refused("This account uses two-factor authentication: send the current code from your "
                                         "authenticator app (or a recovery code) as otp_token.", "otp_required")
            try:
                device = twofactor.verify_code(user=user, code=code, request=request, purpose="API token")
            except PasswordLocked as exc:
                return Response({"detail": str(exc)}, status=exc.status, headers={"Retry-After": str(exc.retry_after)})
            if device is None:
                return self._otp_refused("That two-factor code is not right, or was already used.", "otp_invalid")
        # A token grant is a login: this resets axes' failure count, updates last_login and
        # writes the LOGIN audit event, exactly as the browser login does.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        outcome = open_or_create_vault(user=user, password=serializer.validated_data["password"], request=request)
        if outcome.master_key is not None:  # the API's unlock: records from before get their figures sealed
            seal_old_figures(owner=user, master_key=outcome.master_key, request=request)
        token, plaintext = create_api_token(
            user=user, name=API_TOKEN_NAME, scope=serializer.validated_data["scope"], request=request,
            master_key=outcome.master_key,
        )
        body = {"token": plaintext, "scope": token.scope, "expires": token.expires,
                "vault": "unlocked" if outcome.master_key is not None else "locked"}
        if outcome.recovery_key:
            # First login of an account made without the registration page: its vault was created
            # now, and this response is the only place its recovery key ever appears.
            body["recovery_key"] = outcome.recovery_key
        return Response(body, status=status.HTTP_200_OK, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _otp_refused(detail: str, code: str) -> Response:
        # 401 with a code the client can act on: ask its user for the code and send it again.
        return Response({"detail": detail, "code": code}, status=status.HTTP_401_UNAUTHORIZED,
                        headers={"WWW-Authenticate": 'Token realm="api", otp="required"'})
