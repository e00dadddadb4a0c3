"""Only the accounts app's API views, plus a tiny token-protected endpoint that exists for tests.

The portal has no "who am I" endpoint (out of scope), but token authentication must be tested
against a view that requires authentication, and the schema test must cover such a view without
picking up warnings from other apps' API modules.
"""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import ObtainTokenView


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    auth = serializers.CharField()


class WhoAmIView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=WhoAmISerializer)
    def get(self, request):
        return Response({"username": request.user.get_username(), "auth": type(request.auth).__name__})


urlpatterns = [
    path("api/v1/auth/token/", ObtainTokenView.as_view(), name="test-api-token"),
    path("api/test/whoami/", WhoAmIView.as_view(), name="test-whoami"),
]
