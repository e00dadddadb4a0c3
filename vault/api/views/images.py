"""The images API (/api/v1/images/). Thin: serializers check shape, vault.services does the work,
portal.api.exception_handler answers its refusals, and every lookup goes through the owner-scoped
selectors (another user's id is a 404)."""
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from portal.preferences import storage_default
from vault import jobs, services, sessions
from vault.api.serializers import (
    ApiErrorSerializer,
    CompressionOptionsSerializer,
    ImageDownloadQuerySerializer,
    ImageListQuerySerializer,
    ImageRecordSerializer,
    ImageRetrieveSerializer,
    ImageStatusQuerySerializer,
    ImageStatusSerializer,
    ImageUploadSerializer,
)
from vault.api.views.common import (
    ERROR, GONE, INVALID_PAGE, LOCKED, NOT_FOUND, STORAGE_FULL, UNDECODABLE, PerUserThrottle, image_bytes,
)
from vault.api.views.lifecycle import LifecycleActions
from vault.api.views.shares import ShareActions
from vault.errors import RecordLocked, RetrievalRefused, VaultLocked
from vault.jobs import queue
from vault.responses import file_response, stored_variant
from vault.selectors import get_image_for, images_for, sorted_images, trash_for


@method_decorator(sensitive_post_parameters("key"), name="dispatch")
@extend_schema(tags=["images"])
@extend_schema_view(
    list=extend_schema(
        summary="List your images",
        description="Newest first unless `sort` says otherwise, paginated; images in the trash only with "
                    "?trash=true (soonest deleted first).",
        parameters=[ImageListQuerySerializer],
        responses={200: ImageRecordSerializer(many=True), 400: ERROR, 404: INVALID_PAGE},
    ),
    retrieve=extend_schema(
        summary="One image's record",
        description="With `metadata` (date taken, camera, lens, exposure, location) when the request holds your vault.",
        responses={200: ImageRecordSerializer, 404: NOT_FOUND},
    ),
)
class ImageRecordViewSet(
    LifecycleActions,
    ShareActions,
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your images in your vault."""  # also the schema's description of operations without their own

    serializer_class = ImageRecordSerializer
    parser_classes = [MultiPartParser, FormParser]
    queryset = images_for(None)  # typed for the schema; get_queryset scopes every real request
    # A POST only because the key travels in the body: a read, allowed to read-only API tokens.
    token_read_actions = {"retrieve_bytes"}

    def perform_content_negotiation(self, request, force=False):
        # The download answers with the image's own media type whatever Accept asks for (an
        # `Accept: image/*` client must not get 406); only its errors are rendered, as JSON.
        return super().perform_content_negotiation(request, force=force or self.action in ("retrieve_bytes", "download"))

    def get_queryset(self):
        if self.action == "list":
            query = ImageListQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            if query.validated_data["trash"]:
                return trash_for(self.request.user)
            if query.validated_data.get("sort"):
                return sorted_images(self.request.user, query.validated_data["sort"])
        return images_for(self.request.user)

    @method_decorator(sensitive_variables("master_key"))
    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        try:
            master_key = sessions.master_key_for(request)
            record.photo_metadata = services.open_metadata(record=record, master_key=master_key, request=request)
        except (VaultLocked, RecordLocked, RetrievalRefused):
            pass  # the record's other fields need no key; `metadata` stays null (a refusal is audited)
        return Response(self.get_serializer(record).data)

    def get_throttles(self):
        scope = {"create": "uploads", "download": "retrievals", "retrieve_bytes": "retrievals", "export": "retrievals",
                 "status_many": "status"}.get(self.action)
        return [PerUserThrottle(scope)] if scope else []

    def get_object(self):
        record = get_image_for(self.request.user, self.kwargs[self.lookup_field])
        self.check_object_permissions(self.request, record)
        return record

    @extend_schema(
        summary="Upload an image; it is compressed in the background",
        description=(
            "Multipart upload into your vault: no key is returned or needed, the image opens with "
            "your token (or your unlocked session). The original is checked cheaply, encrypted and "
            "stored at once; the answer is **202** with a `Location` header naming the record, whose "
            "`status` goes queued → running → done (or failed, with `error`) and whose `progress` "
            "counts to 100: poll it, or many at once with GET /api/v1/images/status/?ids=…. Send an "
            "`Idempotency-Key` header (1-64 printable characters) to make retries safe: a repeat with "
            "the same key returns the image stored the first time (200) instead of storing it again; if the "
            "first request died before its file was stored, the retry stores it and completes that image (202). A file "
            "you stored before (the same bytes) is refused with 409 and the existing image's id, unless "
            "`allow_duplicate` is true. `storage` chooses what is kept: `original` (default unless your profile "
            "says otherwise) or `saver` (only the compressed version; the original is deleted once it is stored)."
        ),
        request={"multipart/form-data": ImageUploadSerializer},
        responses={
            202: ImageRecordSerializer, 200: ImageRecordSerializer, 400: ERROR, 403: LOCKED,
            409: OpenApiResponse(ApiErrorSerializer, description=(
                "You stored this exact file before: `existing_id` names that image (`existing_in_trash` "
                "if it is in your trash). Send allow_duplicate=true to store a second copy."
            )),
            413: OpenApiResponse(ApiErrorSerializer, description="Your storage quota would be exceeded."),
            429: OpenApiResponse(ApiErrorSerializer, description="Too many of your images are waiting, or too many requests."),
            507: OpenApiResponse(ApiErrorSerializer, description="The server's storage is full: nothing was kept; send it again later."),
        },
    )
    @method_decorator(sensitive_variables("master_key"))
    def create(self, request, *args, **kwargs):
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        master_key = sessions.master_key_for(request)
        record, created = services.store_image(
            owner=request.user,
            master_key=master_key,
            uploaded_file_or_bytes=data["file"],
            filename=data["file"].name,
            codec=data.get("codec") or "auto",
            target=data.get("target") or None,
            quality=data.get("quality"),
            upload_token=request.headers.get("Idempotency-Key"),
            effort=data.get("effort"),
            allow_duplicate=data.get("allow_duplicate", False),
            storage=data.get("storage") or storage_default(request.user),
            request=request,
        )
        return self._job_response(record, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    def _job_response(self, record, code):
        body = ImageRecordSerializer(record, context=self.get_serializer_context()).data
        headers = {"Cache-Control": "no-store", "Location": reverse("image-detail", args=[record.pk], request=self.request)}
        return Response(body, status=code, headers=headers)

    @extend_schema(
        summary="Progress of several images",
        description="Status, progress and stage of up to 100 of your images at once, for progress bars. Ids that are not yours are left out.",
        parameters=[ImageStatusQuerySerializer],
        responses={200: ImageStatusSerializer(many=True), 400: ERROR},
    )
    @action(detail=False, methods=["get"], url_path="status", url_name="status", pagination_class=None)
    def status_many(self, request):
        query = ImageStatusQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = [int(i) for i in query.validated_data["ids"].split(",")]
        records = self.get_queryset().filter(pk__in=ids)
        context = {"queue": queue.queue_places(request.user, ids)}
        return Response(ImageStatusSerializer(records, many=True, context=context).data, headers={"Cache-Control": "no-store"})

    @extend_schema(
        summary="Cancel an image's compression",
        description="Stops a queued or running job; the original stays in your vault (retry or recompress it later).",
        request=None,
        responses={200: ImageRecordSerializer, 404: NOT_FOUND, 409: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="cancel", url_name="cancel")
    def cancel(self, request, pk=None):
        record = jobs.cancel_job(record=self.get_object(), request=request)
        return self._job_response(record, status.HTTP_200_OK)

    @extend_schema(
        summary="Compress an image again, with the same options",
        description="For a failed or cancelled job (or a finished one). Needs your vault (a token or an unlocked session).",
        request=None,
        responses={202: ImageRecordSerializer, 403: LOCKED, 404: NOT_FOUND, 409: ERROR, 429: ERROR, 507: STORAGE_FULL},
    )
    @action(detail=True, methods=["post"], url_path="retry", url_name="retry")
    @method_decorator(sensitive_variables("master_key"))
    def retry(self, request, pk=None):
        return self._requeue(request, options=None)

    @extend_schema(
        summary="Compress an image again from its original, with other options",
        description=(
            "Another codec, target, quality or effort for a stored image: its original is kept for "
            "this. The current compressed file stays until the new one is done."
        ),
        request=CompressionOptionsSerializer,
        responses={202: ImageRecordSerializer, 400: ERROR, 403: LOCKED, 404: NOT_FOUND, 409: ERROR, 429: ERROR, 507: STORAGE_FULL},
    )
    @action(detail=True, methods=["post"], url_path="recompress", url_name="recompress", parser_classes=[JSONParser, FormParser, MultiPartParser])
    @method_decorator(sensitive_variables("master_key"))
    def recompress(self, request, pk=None):
        body = CompressionOptionsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        options = services.job_options(
            codec=data.get("codec"), target=data.get("target") or None, quality=data.get("quality"), effort=data.get("effort"),
        )
        return self._requeue(request, options=options)

    def _requeue(self, request, *, options):
        record = self.get_object()
        master_key = sessions.master_key_for(request)
        record = jobs.requeue(record=record, master_key=master_key, options=options, request=request)
        return self._job_response(record, status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="v1_images_download",
        summary="Download an image from your vault",
        description=(
            "The decrypted bytes with the image's own Content-Type and `Cache-Control: no-store`. "
            "Needs a token made while your vault was open (every token from /api/v1/auth/token/ is) "
            "or an unlocked browser session. Records stored before the vault answer 409: open them "
            "with their retrieval key (POST .../retrieve/)."
        ),
        parameters=[ImageDownloadQuerySerializer],
        responses={
            **image_bytes("The image bytes."),
            400: ERROR, 403: LOCKED, 404: NOT_FOUND,
            409: OpenApiResponse(ApiErrorSerializer, description=(
                "This record does not open with your vault key, or the version asked for is not made yet."
            )),
            410: OpenApiResponse(ApiErrorSerializer, description=(
                "variant=original of an image stored in storage-saver mode (its original was not kept), or a "
                "stored file that is damaged or missing."
            )),
            422: UNDECODABLE,
        },
    )
    @action(detail=True, methods=["get"], url_path="download", url_name="download")
    @method_decorator(sensitive_variables("master_key", "data"))
    def download(self, request, pk=None):
        record = self.get_object()
        query = ImageDownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        variant = query.validated_data["variant"]
        master_key = sessions.master_key_for(request)
        data = services.open_variant(record=record, master_key=master_key, variant=stored_variant(variant, record), request=request)
        return file_response(record, variant, data)

    @extend_schema(
        operation_id="v1_images_retrieve_bytes",
        summary="Decrypt and download an image",
        description=(
            "For records stored before the per-user vault, with the retrieval key shown then. "
            "Returns the raw bytes with the image's Content-Type and `Content-Disposition: attachment`. "
            "`original` is the upload byte for byte; `compressed` is the stored codec output; `decoded` is "
            "the compressed version decoded to PNG (what the learned codec's .msc file looks like). A wrong key, "
            "a tampered blob and a missing blob all give the same 403; repeated wrong keys lock retrieval "
            "(429 with Retry-After)."
        ),
        request=ImageRetrieveSerializer,
        responses={
            **image_bytes("The image bytes, under the image's own media type."),
            400: ERROR,
            403: OpenApiResponse(ApiErrorSerializer, description="The key does not open this image."),
            404: NOT_FOUND, 409: ERROR, 410: GONE, 422: UNDECODABLE,
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
        stored = stored_variant(variant, record)
        if record.is_legacy:
            data = services.retrieve_image(record=record, key=body.validated_data["key"], variant=stored, request=request)
        else:
            data = services.open_with_share_key(
                record=record, key=body.validated_data["key"], variants=[stored], request=request
            )[stored]
        return file_response(record, variant, data)
