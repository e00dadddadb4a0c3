from rest_framework import serializers

from accounts.models import ApiToken


class ObtainTokenSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.READ_WRITE,
        help_text="read: list and download only; read_write: also upload and delete.",
    )


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text='Send as "Authorization: Token <token>". Shown once; store it safely.'
    )
    scope = serializers.CharField(read_only=True)
    expires = serializers.DateTimeField(read_only=True)


class AuthErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
