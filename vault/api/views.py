"""The images API (/api/v1/images/). Thin: serializers check shape, vault.services does the work,
and every lookup goes through the owner-scoped selectors (another user's id is a 404)."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from vault import services
from vault.api.serializers import (
    ApiErrorSerializer,
    ImageCreatedSerializer,
    ImageRecordSerializer,
    ImageUploadSerializer,
    ImageRetrieveSerializer,
)
from vault.selectors import get_image_for, images_for
from vault.views import attachment_response, decoded_png_response

NOT_FOUND = OpenApiResponse(ApiErrorSerializer, description="No such image among yours.")
ERROR = OpenApiResponse(ApiErrorSerializer, description="Invalid request; `detail` says why.")


def _as_drf_validation_error(exc: DjangoValidationError) -> ValidationError:
    return ValidationError({"detail": " ".join(exc.messages)})


@method_decorator(sensitive_post_parameters("key"), name="dispatch")
@extend_schema(tags=["images"])
@extend_schema_view(
    list=extend_schema(summary="List your images", description="Newest first, paginated."),
    retrieve=extend_schema(summary="One image's metadata", responses={200: ImageRecordSerializer, 404: NOT_FOUND}),
    destroy=extend_schema(
        summary="Delete an image",
        description="Removes the record and both encrypted blobs.",
        responses={204: OpenApiResponse(description="Deleted."), 404: NOT_FOUND},
    ),
)
class ImageRecordViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = ImageRecordSerializer
    parser_classes = [MultiPartParser, FormParser]
    queryset = images_for(None)  # typed for the schema; get_queryset scopes every real request

    def perform_content_negotiation(self, request, force=False):
        # The download answers with the image's own media type whatever Accept asks for (an
        # `Accept: image/*` client must not get 406); only its errors are rendered, as JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "retrieve_bytes")

    def get_queryset(self):
        return images_for(self.request.user)

    def get_object(self):
        record = get_image_for(self.request.user, self.kwargs[self.lookup_field])
        self.check_object_permissions(self.request, record)
        return record

    @extend_schema(
        summary="Upload, compress and encrypt an image",
        description=(
            "Multipart upload. The response carries the retrieval `key` exactly once: the server "
            "stores only a hash of it and the data key wrapped under it, and cannot recover it."
        ),
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: ImageCreatedSerializer, 400: ERROR},
    )
    def create(self, request, *args, **kwargs):
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            record, key = services.store_image(
                owner=request.user,
                uploaded_file_or_bytes=data["file"],
                filename=data["file"].name,
                codec=data.get("codec") or "auto",
                target=data.get("target") or None,
                quality=data.get("quality"),
                effort=data.get("effort"),
                request=request,
            )
        except DjangoValidationError as exc:
            raise _as_drf_validation_error(exc) from None
        record.key = key
        body = ImageCreatedSerializer(record, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def perform_destroy(self, instance):
        services.delete_image(record=instance, request=self.request)

    @extend_schema(
        operation_id="v1_images_retrieve_bytes",
        summary="Decrypt and download an image",
        description=(
            "Returns the raw bytes with the image's Content-Type and `Content-Disposition: attachment`. "
            "`original` is the upload byte for byte; `compressed` is the stored codec output; `decoded` is "
            "the compressed version decoded to PNG (what the learned codec's .msc file looks like). A wrong key, "
            "a tampered blob and a missing blob all give the same 403; repeated wrong keys lock retrieval "
            "(429 with Retry-After)."
        ),
        request=ImageRetrieveSerializer,
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The image bytes (Content-Type is the image's own media type)."
            ),
            400: ERROR,
            403: OpenApiResponse(ApiErrorSerializer, description="The key does not open this image."),
            404: NOT_FOUND,
            429: OpenApiResponse(ApiErrorSerializer, description="Too many wrong keys; see Retry-After."),
        },
        examples=[
            OpenApiExample(
                "Original",
                value={"key": "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-ABCD-EFGH-IJKL-MNOP-QRSQ", "variant": "original"},
                request_only=True,
            )
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="retrieve",
        url_name="retrieve-bytes",
        parser_classes=[JSONParser, FormParser, MultiPartParser],
    )
    def retrieve_bytes(self, request, pk=None):
        record = self.get_object()
        body = ImageRetrieveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        variant = body.validated_data["variant"]
        try:
            data = services.retrieve_image(
                record=record, key=body.validated_data["key"],
                variant="compressed" if variant == "decoded" else variant, request=request,
            )
        except services.RetrievalLocked as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
        except services.RetrievalRefused as exc:
            raise PermissionDenied(detail=str(exc)) from None
        except DjangoValidationError as exc:
            raise _as_drf_validation_error(exc) from None
        if variant == "decoded":
            return decoded_png_response(record, data)
        return attachment_response(record, variant, data)
