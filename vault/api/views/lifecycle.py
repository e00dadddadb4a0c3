"""The images API's way out and undo, mixed into the image viewset: DELETE to the trash (or for
good with ?permanent=1), restoring, emptying the trash, and exporting the vault as a streamed zip."""
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from portal import stepup
from vault import services, sessions
from vault.api.serializers import DeleteQuerySerializer, ExportQuerySerializer, ImageRecordSerializer
from vault.api.views.common import ERROR, LOCKED, NOT_FOUND
from vault.responses import export_response
from vault.selectors import images_for, owned_images

class LifecycleActions:
    """Trash and export endpoints, mixed into the image viewset (which supplies get_object)."""

    @extend_schema(
        summary="Delete an image: to the trash, or for good",
        description=(
            "Moves the image to the trash: it leaves the list, its shares stop opening, it still counts "
            "in your quota, and POST .../restore/ brings it back until it is deleted for good after "
            "TRASH_RETENTION_DAYS (30 by default). With ?permanent=true (or 1) the record and its encrypted files "
            "are deleted now. Deleting an image already in the trash without ?permanent changes nothing."
        ),
        parameters=[DeleteQuerySerializer],
        responses={204: OpenApiResponse(description="In the trash, or deleted."), 400: ERROR, 404: NOT_FOUND},
    )
    def destroy(self, request, *args, **kwargs):
        record = self.get_object()
        query = DeleteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["permanent"]:
            services.delete_image(record=record, request=request)
        else:
            services.move_to_trash(record=record, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Restore an image from the trash",
        description="Back in the list, its shares open again. An image not in the trash is answered as it is.",
        request=None,
        responses={200: ImageRecordSerializer, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path="restore", url_name="restore")
    def restore(self, request, pk=None):
        record = services.restore(record=self.get_object(), request=request)
        return Response(ImageRecordSerializer(record, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Empty the trash now",
        description="Deletes every image in your trash, with its encrypted files, for good.",
        request=None,
        responses={200: inline_serializer("TrashEmptied", {"deleted": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"], url_path="trash/empty", url_name="trash-empty")
    def empty_trash(self, request):
        return Response({"deleted": services.empty_trash(owner=request.user, request=request)})

    @extend_schema(
        summary="Export your vault as a zip",
        description=(
            "A zip streamed as it is made (no Content-Length): each image's original exactly as uploaded, "
            "or its compressed file where no original is kept, under images/, then manifest.json and "
            "manifest.csv (name, dates, format, codec, sizes, quality figures; `not_exported` says why an "
            "image has no file). Without `ids`, every image not in the trash; with `ids`, those of yours "
            "(the trash included). Needs your vault (a token or an unlocked session) and a recent password "
            "entry: a token minted in the last few minutes, or a session that confirmed its password; "
            "otherwise 403 with code \"step_up_required\"."
        ),
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip."),
            400: ERROR, 403: LOCKED,
        },
    )
    @action(detail=False, methods=["get"], url_path="export", url_name="export")
    @method_decorator(sensitive_variables("master_key"))
    def export(self, request):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # Every original at once: a session or an old token alone is not enough (step-up).
        stepup.check_recent_auth(request)
        master_key = sessions.master_key_for(request)  # before the first byte: a locked vault is a clear 403
        ids = query.validated_data.get("ids")
        if ids:
            records = owned_images(request.user).filter(pk__in=[int(i) for i in ids.split(",")])
        else:
            records = images_for(request.user)
        return export_response(records=records.order_by("created", "id").only("id"), master_key=master_key, request=request)
