"""The shares API: the owner's share endpoints on an image (/api/v1/images/{id}/shares/, mixed
into the image viewset) and opening a share with its key (/api/v1/shares/{id}/retrieve/), which
needs no account."""
from datetime import timedelta

from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.stepup import check_recent_auth
from vault import services, sessions
from vault.api.serializers import ShareCreatedSerializer, ShareCreateSerializer, ShareRetrieveSerializer, ShareSerializer
from vault.api.views.common import ERROR, GONE, LOCKED, NOT_FOUND, STORAGE_FULL, UNDECODABLE, image_bytes
from vault.errors import RetrievalRefused
from vault.responses import SHARE_KEY_REFUSED, file_response, share_link
from vault.selectors import get_public_share_for, shares_for


class ShareActions:
    """Owner-side share endpoints, mixed into the image viewset."""

    @extend_schema(
        methods=["GET"], summary="List an image's shares", responses={200: ShareSerializer(many=True), 404: NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        summary="Share an image",
        description=(
            "Creates a share key for this one image and returns it once with a link that carries it in "
            "the URL fragment. Anyone with the key can open the image through POST /api/v1/shares/{id}/retrieve/ "
            "until it expires or is revoked. Unless `include_location` is true, the original is served "
            "without its GPS position and place names (the compressed version and thumbnail never carry them). "
            "Needs a recent password entry: a token minted in the last few "
            "minutes, or \"password\" (and \"otp_token\" for a two-factor account) in this request; otherwise "
            "403 with code \"step_up_required\"."
        ),
        request=ShareCreateSerializer,
        responses={201: ShareCreatedSerializer, 400: ERROR, 403: LOCKED, 404: NOT_FOUND, 409: ERROR, 507: STORAGE_FULL},
    )
    @action(detail=True, methods=["get", "post"], url_path="shares", url_name="shares",
            parser_classes=[JSONParser, FormParser], pagination_class=None)
    @method_decorator(sensitive_variables("master_key", "key"))
    def shares(self, request, pk=None):
        record = self.get_object()
        if request.method == "GET":
            return Response(ShareSerializer(shares_for(request.user, record), many=True).data)
        body = ShareCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # A share opens the original for anyone, beyond this session or token: a recent password.
        check_recent_auth(request)
        days = body.validated_data.get("expires_in_days")
        master_key = sessions.master_key_for(request)
        share, key = services.create_share(
            record=record, master_key=master_key, label=body.validated_data.get("label", ""),
            expires_at=timezone.now() + timedelta(days=days) if days else None, request=request,
            include_location=body.validated_data["include_location"],
        )
        share.key, share.url = key, share_link(request, share, key)
        return Response(ShareCreatedSerializer(share).data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(summary="Revoke a share", responses={204: OpenApiResponse(description="Revoked."), 404: NOT_FOUND})
    # The share's public id, the `id` every share response carries (the row's own key never leaves
    # the server).
    @action(detail=True, methods=["delete"], url_path=r"shares/(?P<share_id>[A-Za-z0-9_-]+)", url_name="share")
    def revoke_share(self, request, pk=None, share_id=None):
        record = self.get_object()
        services.revoke_share(share=get_public_share_for(request.user, record, share_id), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(sensitive_post_parameters("key"), name="dispatch")
class ShareRetrieveView(APIView):
    """Anyone holding a share key: no account, no session, hence no CSRF either."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser, FormParser]

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="v1_shares_retrieve",
        summary="Open a shared image with its share key",
        description="Wrong keys are counted per share and lock it for a while (429 with Retry-After).",
        request=ShareRetrieveSerializer,
        responses={
            **image_bytes("The image bytes, under the image's own media type."),
            400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 410: GONE, 422: UNDECODABLE, 429: ERROR,
        },
        tags=["shares"],
    )
    @method_decorator(sensitive_variables("opened"))
    def post(self, request, share_id):
        body = ShareRetrieveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        variant = body.validated_data["variant"]
        try:
            share, opened = services.open_share(public_id=share_id, key=body.validated_data["key"], variants=[variant], request=request)
        except RetrievalRefused:
            raise PermissionDenied(detail=SHARE_KEY_REFUSED) from None
        return file_response(share.record, variant, opened[variant])
