"""Read-only API over the codec registry: `/api/v1/codecs/`, `/api/v1/codecs/{name}/`,
`/api/v1/codecs/targets/`."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from ..base import CodecError
from ..registry import available_codecs, get_codec
from ..targets import DEFAULT_TARGET, NAMED_TARGETS, PARAMETRIC_TARGETS
from .serializers import CodecSerializer, TargetSerializer


class CodecViewSet(viewsets.ViewSet):
    """The codecs an upload may name as `codec` (or `auto`), and the accepted `target` spellings."""

    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9._-]+"
    serializer_class = CodecSerializer

    @extend_schema(responses=CodecSerializer(many=True), summary="List codecs")
    def list(self, request):
        return Response(CodecSerializer(available_codecs(), many=True).data)

    @extend_schema(
        responses={
            200: CodecSerializer,
            404: OpenApiResponse(
                inline_serializer("CodecNotFound", {"detail": serializers.CharField()}),
                description="No codec by that name; `detail` lists those there are.",
            ),
        },
        summary="Describe one codec",
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Codec name")],
    )
    def retrieve(self, request, name=None):
        try:
            codec = get_codec(name)
        except CodecError as exc:
            raise NotFound(str(exc)) from None
        return Response(CodecSerializer(codec).data)

    @extend_schema(responses=TargetSerializer(many=True), summary="List quality target spellings")
    @action(detail=False, methods=["get"], serializer_class=TargetSerializer)
    def targets(self, request):
        rows = [
            {"spelling": k, "description": v, "default": k == DEFAULT_TARGET} for k, v in NAMED_TARGETS.items()
        ] + [{"spelling": k, "description": v, "default": False} for k, v in PARAMETRIC_TARGETS.items()]
        return Response(TargetSerializer(rows, many=True).data)
