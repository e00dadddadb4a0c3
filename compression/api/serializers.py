from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class CodecSerializer(serializers.Serializer):
    """A codec as the API describes it (read-only)."""

    name = serializers.CharField(help_text="Identifier to pass as `codec` when uploading.")
    label = serializers.CharField()
    media_type = serializers.CharField()
    extension = serializers.CharField()
    lossless = serializers.BooleanField(help_text="Every encoding is pixel-exact.")
    supports_alpha = serializers.BooleanField(help_text="Keeps transparency.")
    quality_range = serializers.SerializerMethodField(
        help_text="[min, max] of the quality knob (higher = better, larger); null for lossless codecs."
    )
    default_quality = serializers.FloatField(allow_null=True)

    @extend_schema_field(
        serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True)
    )
    def get_quality_range(self, codec):
        return None if codec.quality_range is None else [float(v) for v in codec.quality_range]


class TargetSerializer(serializers.Serializer):
    """A quality target spelling accepted by the upload's `target` field."""

    spelling = serializers.CharField()
    description = serializers.CharField()
    default = serializers.BooleanField()
