from rest_framework import serializers

from accounts.models import ApiToken
from portal.api_input import StrictInputSerializer


class ObtainTokenSerializer(StrictInputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.READ_WRITE,
        help_text="read: list and download only; read_write: also upload and delete.",
    )
    otp_token = serializers.CharField(
        required=False, write_only=True, max_length=32,
        help_text="For an account with two-factor authentication: the current code from the authenticator app, or a recovery code.",
    )


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text='Send as "Authorization: Token <token>". Shown once; store it safely.'
    )
    scope = serializers.CharField(read_only=True)
    expires = serializers.DateTimeField(read_only=True)
    vault = serializers.ChoiceField(
        choices=["unlocked", "locked"], read_only=True,
        help_text=(
            "unlocked: the token carries its own wrap of your vault key and can upload and open images. "
            "locked: your password no longer opens your vault (it was reset); reopen it on the website "
            "with your recovery key, then get a new token."
        ),
    )
    # Not read_only: spectacular marks read-only response fields required, and most answers lack it.
    recovery_key = serializers.CharField(
        required=False,
        help_text="Only on the first login of an account made without registering: your new vault's recovery key, shown once.",
    )


class AuthErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
    code = serializers.CharField(required=False, help_text='Where the client can act: "otp_required", "otp_invalid".')
