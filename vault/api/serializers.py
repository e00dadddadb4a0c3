from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compression.selection.options import EFFORTS
from vault.crypto import VARIANTS
from vault.models import ImageRecord


class ApiErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True, help_text="What went wrong, in words a person understands.")


class CandidateSerializer(serializers.Serializer):
    codec = serializers.CharField(read_only=True)
    params = serializers.DictField(read_only=True, help_text="The codec's parameters for this attempt.")
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    psnr = serializers.FloatField(read_only=True, allow_null=True, help_text="dB; null when exact.")
    msssim = serializers.FloatField(read_only=True, allow_null=True)
    seconds = serializers.FloatField(read_only=True)
    meets_target = serializers.BooleanField(read_only=True, allow_null=True)


class ImageRecordSerializer(serializers.ModelSerializer):
    candidates = CandidateSerializer(many=True, read_only=True, help_text="Every encoding tried while choosing.")
    codec_params = serializers.SerializerMethodField()
    ratio = serializers.FloatField(read_only=True, allow_null=True, help_text="Original bytes per compressed byte.")
    percent_saved = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ImageRecord
        fields = [
            "id", "name", "created",
            "original_format", "original_media_type", "width", "height", "has_alpha",
            "codec", "codec_params", "reason", "candidates", "compressed_media_type", "compressed_extension",
            "original_size", "compressed_size", "ratio", "percent_saved",
            "psnr", "ssim", "msssim", "bpp", "encode_seconds", "total_seconds",
            "sha256_original", "sha256_original_blob", "sha256_compressed_blob",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": True, "description": "Codec parameters used."})
    def get_codec_params(self, obj) -> dict:
        return obj.codec_params or {}


class ImageCreatedSerializer(ImageRecordSerializer):
    key = serializers.CharField(
        read_only=True,
        help_text=(
            "The retrieval key: 52 base32 characters in dash-separated groups of four. Returned only "
            "in this response; the server keeps no copy and cannot recover it."
        ),
    )

    class Meta(ImageRecordSerializer.Meta):
        fields = ["key", *ImageRecordSerializer.Meta.fields]
        read_only_fields = fields


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JPEG, PNG, WebP, AVIF, GIF (first frame), BMP or TIFF.")
    codec = serializers.ChoiceField(choices=[], required=False, default="auto")
    target = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text=(
            "Quality target: lossless, visually-lossless, high, balanced (default), small, "
            "psnr:<dB>, msssim:<0..1>, bytes:<n> or bpp:<x>."
        ),
    )
    quality = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="The codec's own quality knob (e.g. 1-100 for JPEG); overrides the target.",
    )

    effort = serializers.ChoiceField(
        choices=list(EFFORTS),
        required=False,
        default="default",
        help_text=(
            "fast: the file the search found; default: the winner re-encoded with slower settings "
            "(smaller files); max: the slowest, smallest settings."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Codecs register at run time (the learned one may be added later), so the choices are
        # read per request rather than frozen at import.
        from compression.registry import codec_choices

        self.fields["codec"].choices = codec_choices()

    def validate_target(self, value):
        from compression.targets import parse_target

        if value.strip():
            try:
                parse_target(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value.strip()


class ImageRetrieveSerializer(serializers.Serializer):
    key = serializers.CharField(
        trim_whitespace=True, max_length=200, help_text="The retrieval key shown when the image was stored."
    )
    variant = serializers.ChoiceField(
        choices=[*VARIANTS, "decoded"],
        default="original",
        help_text=(
            "original: the uploaded bytes exactly; compressed: the stored codec bytes (e.g. a .msc "
            "file for the learned codec); decoded: the compressed version decoded to PNG."
        ),
    )
