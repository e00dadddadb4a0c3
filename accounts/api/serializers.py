from rest_framework import serializers


class ObtainTokenSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text='Send as "Authorization: Token <token>". Shown once; store it safely.'
    )


class AuthErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
