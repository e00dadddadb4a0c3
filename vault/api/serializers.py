from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from compression.selection.options import EFFORTS
from compression.targets import TARGET_PATTERN
from portal.api_input import FlagField, StrictInputSerializer
from vault import metadata
from vault.crypto import VARIANTS
from vault.images.lockout import parse_key
from vault.images.opening import reveal_figures_for
from vault.models import ImageRecord, Share
from vault.selectors import GALLERY_SORTS

_LOCATION_SCHEMA = {
    "type": "object", "nullable": True,
    "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}, "altitude": {"type": "number", "nullable": True}},
}
_METADATA_SCHEMA = {
    "type": "object", "nullable": True,
    "description": (
        "What the photo's EXIF/XMP says, sealed in your vault: in GET /api/v1/images/{id}/ with your vault "
        "(a token or an unlocked session); null in lists, while locked, and before its job has read it."
    ),
    "properties": {
        "taken": {"type": "string", "nullable": True, "description": "The camera's clock, YYYY-MM-DDTHH:MM:SS."},
        "taken_offset": {"type": "string", "nullable": True, "description": "Its UTC offset (+HH:MM) when the camera wrote one."},
        "camera": {"type": "string", "nullable": True}, "make": {"type": "string", "nullable": True},
        "model": {"type": "string", "nullable": True}, "lens": {"type": "string", "nullable": True},
        "exposure_time": {"type": "number", "nullable": True, "description": "Seconds."},
        "exposure": {"type": "string", "nullable": True, "description": "e.g. 1/120 s · f/1.8 · ISO 50 · 6.9 mm"},
        "f_number": {"type": "number", "nullable": True}, "iso": {"type": "integer", "nullable": True},
        "focal_length": {"type": "number", "nullable": True, "description": "mm."},
        "focal_length_35mm": {"type": "integer", "nullable": True},
        "width": {"type": "integer"}, "height": {"type": "integer"},
        "orientation": {"type": "integer", "description": "EXIF orientation as stored (1-8); the pixels served are upright."},
        "location": _LOCATION_SCHEMA,
    },
}


class KeyValidator(RegexValidator):
    """A retrieval or share key: 52 base32 characters in groups of four, the last A or Q (its low
    bits are zero). The pattern is the form the schema documents (the key as shown, dashes
    optional); the check is the one key parser's (lockout.parse_key), which also takes spaces and
    says what is wrong."""

    regex = r"^(?:[A-Za-z2-7]{4}-?){12}[A-Za-z2-7]{3}[AQaq]$"

    def __init__(self, kind: str = "retrieval key"):
        super().__init__()
        self.kind = kind

    def __call__(self, value):
        parse_key(value, kind=self.kind)  # a ValidationError saying what is wrong


class ApiErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True, help_text="What went wrong, in words a person understands.")


class CandidateSerializer(serializers.Serializer):
    codec = serializers.CharField(read_only=True)
    params = serializers.DictField(read_only=True, help_text="The codec's parameters for this attempt.")
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    psnr = serializers.FloatField(read_only=True, allow_null=True, help_text="dB; null when exact.")
    msssim = serializers.FloatField(read_only=True, allow_null=True)
    ssimulacra2 = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="SSIMULACRA 2 (0-100, 100 exact); null when this attempt's target did not need it.",
    )
    ssimulacra2_worst = serializers.FloatField(
        read_only=True, allow_null=True, help_text="SSIMULACRA 2 of its worst 256-px region.",
    )
    seconds = serializers.FloatField(read_only=True)
    meets_target = serializers.BooleanField(read_only=True, allow_null=True)


_EXACT_OR_PADDED = (
    " Exact when the request carries your vault (a token made while it was open, or an unlocked session); "
    "otherwise rounded up to a Padmé size (a few percent larger at most), and figures_exact is false."
)
_EXACT_OR_NULL = " Null unless the request carries your vault (see figures_exact)."


class FiguresMixin:
    """Sizes, scores and candidates are sealed under each image's key (vault/figures.py): opened
    here for the request's owner when it carries the vault's key, else the columns' coarse values."""

    def to_representation(self, instance):
        request = self.context.get("request")
        if request is not None:
            reveal_figures_for(request, [instance])
        return super().to_representation(instance)


class ImageRecordSerializer(FiguresMixin, serializers.ModelSerializer):
    candidates = CandidateSerializer(
        many=True, read_only=True, help_text="Every encoding tried while choosing." + _EXACT_OR_NULL.replace("Null", "Empty"),
    )
    figures_exact = serializers.BooleanField(
        read_only=True,
        help_text="true: original_size, compressed_size, the scores, bpp, candidates and reason are the exact figures; "
        "false: the vault's key was not in the request (or the sealed figures are damaged), so sizes are "
        "Padmé-rounded, scores and bpp null, candidates empty.",
    )
    original_size = serializers.IntegerField(read_only=True, help_text="Bytes uploaded." + _EXACT_OR_PADDED)
    compressed_size = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Bytes of the compressed file; null until compressed." + _EXACT_OR_PADDED,
    )
    psnr = serializers.FloatField(read_only=True, allow_null=True, help_text="dB; null when exact." + _EXACT_OR_NULL)
    ssim = serializers.FloatField(read_only=True, allow_null=True, help_text=_EXACT_OR_NULL.strip())
    msssim = serializers.FloatField(read_only=True, allow_null=True, help_text=_EXACT_OR_NULL.strip())
    bpp = serializers.FloatField(read_only=True, allow_null=True, help_text="Bits per pixel of the compressed file." + _EXACT_OR_NULL)
    reason = serializers.CharField(read_only=True, help_text="Why this codec won, with its figures." + _EXACT_OR_NULL.replace("Null", "Empty"))
    thumbnail_url = serializers.SerializerMethodField(help_text="A ~320 px WebP preview (needs your vault: a token or an unlocked session).")
    download_url = serializers.SerializerMethodField(help_text="Add ?variant=original|compressed|decoded|thumbnail.")
    legacy = serializers.BooleanField(source="is_legacy", read_only=True, help_text="Stored before the per-user vault: opens only with its own retrieval key.")
    codec_params = serializers.SerializerMethodField()
    ratio = serializers.FloatField(read_only=True, allow_null=True, help_text="Original bytes per compressed byte (from the padded sizes when figures_exact is false).")
    percent_saved = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="The share of the upload's bytes not stored (every stored file counted); negative when more is stored.",
    )
    storage = serializers.CharField(source="storage_mode", read_only=True, help_text="original or saver.")
    original_storage = serializers.CharField(
        read_only=True,
        help_text="How the original is stored: as-uploaded, jxl-jpeg (JPEG XL, the JPEG comes back byte for byte), "
        "jxl-lossless (JPEG XL, comes back as a PNG with the same pixels and metadata) or not-kept (storage saver).",
    )
    original_kept = serializers.BooleanField(read_only=True, help_text="false: storage saver; the original download answers 410.")
    stored_bytes = serializers.IntegerField(read_only=True, help_text="Bytes stored for this image: every encrypted file, as stored.")
    stored_percent = serializers.FloatField(read_only=True, allow_null=True, help_text="stored_bytes as a percentage of original_size.")
    status = serializers.ChoiceField(
        choices=ImageRecord.Status.choices, read_only=True,
        help_text="queued and running: poll this record; done: the compressed fields are filled in.",
    )
    progress = serializers.IntegerField(read_only=True, help_text="0-100.")
    stage = serializers.CharField(read_only=True, help_text="What the job is doing now.")
    error = serializers.CharField(read_only=True, help_text="Why the last job failed (status failed).")
    requested = serializers.JSONField(source="job_options", read_only=True, help_text="codec, target, quality and effort asked for.")
    trashed_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When it was moved to the trash; null when it is not there.")
    purge_after = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When the trash deletes it for good.")
    taken_at = serializers.SerializerMethodField(
        help_text="When the photo was taken, by the camera's clock (YYYY-MM-DDTHH:MM:SS, no zone); null when the file does not say.",
    )
    metadata = serializers.SerializerMethodField()
    ssimulacra2 = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="SSIMULACRA 2 of the stored file at full size: 90 visually lossless, 80 very high, 70 high, "
        "50 medium, 30 low; 100 when exact. Null on records compressed before it was measured." + _EXACT_OR_NULL,
    )
    ssimulacra2_worst = serializers.FloatField(
        read_only=True, allow_null=True, help_text="SSIMULACRA 2 of the stored file's worst 256-px region.",
    )
    decided_by = serializers.CharField(
        read_only=True,
        help_text="What the target was judged on: ssimulacra2, psnr, msssim, bytes, bpp, exact, or quality "
        "(a quality you set); empty on older records.",
    )
    decided_value = serializers.FloatField(read_only=True, allow_null=True, help_text="Its value (null for exact)." + _EXACT_OR_NULL)

    class Meta:
        model = ImageRecord
        fields = [
            "id", "name", "created", "taken_at", "status", "progress", "stage", "error", "requested", "attempts",
            "queued_at", "started_at", "finished_at",
            "original_format", "original_media_type", "width", "height", "has_alpha",
            "codec", "codec_params", "reason", "candidates", "compressed_media_type", "compressed_extension",
            "original_size", "compressed_size", "ratio", "percent_saved",
            "storage", "original_storage", "original_kept", "stored_bytes", "stored_percent",
            "psnr", "ssim", "msssim", "ssimulacra2", "ssimulacra2_worst", "decided_by", "decided_value",
            "bpp", "encode_seconds", "total_seconds", "figures_exact",
            "sha256_original_blob", "sha256_compressed_blob", "legacy", "thumbnail_url", "download_url", "metadata",
            "trashed_at", "purge_after",
        ]
        read_only_fields = fields

    def _url(self, obj, variant=None) -> str | None:
        request = self.context.get("request")
        path = reverse("image-download", args=[obj.pk]) + (f"?variant={variant}" if variant else "")
        return request.build_absolute_uri(path) if request is not None else path

    def get_thumbnail_url(self, obj) -> str | None:
        return None if obj.is_legacy or not obj.thumbnail_blob else self._url(obj, "thumbnail")

    def get_download_url(self, obj) -> str | None:
        return None if obj.is_legacy else self._url(obj)

    def get_taken_at(self, obj) -> str | None:
        # Stored as if UTC (see ImageRecord.taken_at): printed as the clock read, without a zone.
        return obj.taken_at.replace(tzinfo=None).isoformat() if obj.taken_at else None

    @extend_schema_field(_METADATA_SCHEMA)
    def get_metadata(self, obj):
        # Set by the detail view, which opens it with the vault's key.
        return metadata.public(getattr(obj, "photo_metadata", None))

    @extend_schema_field({"type": "object", "additionalProperties": True, "description": (
        "Codec parameters used. Without your vault's key (figures_exact false), without the byte counts "
        "(metadata_bytes, original_storage's bytes, upload_bytes and note) and the decoded pixels' decoded_sha256."
    )})
    def get_codec_params(self, obj) -> dict:
        return obj.codec_params or {}


@extend_schema_field({"type": "string", "maxLength": 64, "pattern": TARGET_PATTERN})
class TargetField(serializers.CharField):
    """A quality target: the schema documents its spellings (with their ranges), parse_target checks it."""


class QualityField(serializers.FloatField):
    """The union of the codecs' quality ranges, in the schema and here; each codec's own range is
    checked by compression's parse_quality. The refusal quotes the value (DRF's own does not)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self.min_value <= value <= self.max_value:
            raise serializers.ValidationError(
                f"Quality {data!r} is out of range; codecs take {self.min_value:g}–{self.max_value:g} "
                "(see each codec's quality_range at /api/v1/codecs/)."
            )
        return value


class CompressionOptionsSerializer(StrictInputSerializer):
    codec = serializers.ChoiceField(choices=[], required=False, default="auto")
    target = TargetField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text=(
            "Quality target: lossless, visually-lossless, high, balanced (default), small, "
            "ssimulacra2:<score>, psnr:<dB>, msssim:<0..1>, bytes:<n> or bpp:<x>."
        ),
    )
    quality = QualityField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text=(
            "The codec's own quality knob, within its `quality_range` (GET /api/v1/codecs/); overrides "
            "the target. Ignored with codec auto, which chooses it."
        ),
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


STORAGE_HELP = (
    "original: keep the original, losslessly recompressed where that is smaller (a JPEG comes back byte for byte; "
    "a PNG, TIFF, BMP or lossless WebP as a PNG with the same pixels and metadata); saver: keep only the compressed "
    "version: the original is deleted once the compressed file is stored, and cannot be downloaded or "
    "compressed again. Omitted: your profile's default."
)


class ImageUploadSerializer(CompressionOptionsSerializer):
    file = serializers.FileField(help_text="JPEG, PNG, WebP, AVIF, HEIC/HEIF, GIF (first frame), BMP or TIFF.")
    storage = serializers.ChoiceField(choices=list(ImageRecord.StorageMode.values), required=False, help_text=STORAGE_HELP)
    allow_duplicate = FlagField(
        required=False, default=False,
        help_text="Store it even if you stored the same file before (otherwise 409 with `existing_id`).",
    )


class ImageRetrieveSerializer(StrictInputSerializer):
    key = serializers.CharField(
        trim_whitespace=True, max_length=200, validators=[KeyValidator()],
        help_text="The retrieval key shown when the image was stored.",
    )
    variant = serializers.ChoiceField(
        choices=["original", "compressed", "decoded"],
        default="original",
        help_text=(
            "original: the uploaded bytes exactly; compressed: the stored codec bytes (e.g. a .msc "
            "file for the learned codec); decoded: the compressed version decoded to PNG."
        ),
    )


class ImageDownloadQuerySerializer(StrictInputSerializer):
    variant = serializers.ChoiceField(
        choices=[*VARIANTS, "decoded"],
        default="original",
        help_text=(
            "original: the uploaded bytes exactly (a PNG with the same pixels and metadata for a lossless original "
            "kept as JPEG XL; 410 for a storage-saver image); compressed: the stored codec bytes; decoded: the "
            "compressed version as PNG; thumbnail: a ~320 px WebP preview; rendition: a PNG of an original "
            "browsers do not draw (TIFF, BMP, GIF, HEIC), made by the worker (409 until it is)."
        ),
    )


class ShareSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="The share's public id (in its link).")
    image = serializers.IntegerField(source="record_id", read_only=True)
    expired = serializers.SerializerMethodField()

    class Meta:
        model = Share
        fields = ["id", "image", "label", "created", "expires_at", "expired", "include_location", "uses", "last_used_at"]
        read_only_fields = fields

    def get_expired(self, obj) -> bool:
        return obj.is_expired()


class ShareCreatedSerializer(ShareSerializer):
    key = serializers.CharField(read_only=True, help_text="The share key, returned only in this response.")
    url = serializers.CharField(read_only=True, help_text="The link to send: the key is in the fragment.")

    class Meta(ShareSerializer.Meta):
        fields = [*ShareSerializer.Meta.fields, "key", "url"]
        read_only_fields = fields


class ShareCreateSerializer(StrictInputSerializer):
    label = serializers.CharField(required=False, allow_blank=True, max_length=100)
    expires_in_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650, help_text="Omit or null: until revoked."
    )
    # Read by portal.stepup.check_recent_auth, declared here for the schema.
    password = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False,
        help_text="Your password, when the session or token did not confirm it in the last few minutes (step-up).",
    )
    otp_token = serializers.CharField(required=False, write_only=True, help_text="With password: your two-factor code, if your account uses one.")
    include_location = FlagField(
        required=False, default=False,
        help_text="true: the shared original keeps its GPS position and place names. Default false: they are removed.",
    )


class ShareRetrieveSerializer(StrictInputSerializer):
    key = serializers.CharField(trim_whitespace=True, max_length=200, validators=[KeyValidator("share key")], help_text="The share key.")
    variant = serializers.ChoiceField(choices=["original", "compressed", "decoded", "thumbnail"], default="original")


class ImageStatusSerializer(FiguresMixin, serializers.ModelSerializer):
    """The few fields a progress bar polls for. `context["queue"]`: vault.jobs.queue.queue_places."""

    class Meta:
        model = ImageRecord
        fields = ["id", "name", "status", "progress", "stage", "error", "codec", "compressed_size", "percent_saved",
                  "original_size", "stored_bytes", "stored_percent", "storage", "queue_position", "queue_estimate_seconds"]
        read_only_fields = fields

    percent_saved = serializers.FloatField(read_only=True, allow_null=True)
    stored_percent = serializers.FloatField(read_only=True, allow_null=True)
    storage = serializers.CharField(source="storage_mode", read_only=True)
    queue_position = serializers.SerializerMethodField(
        help_text="A queued image's place in your own queue (1: next); null unless queued.")
    queue_estimate_seconds = serializers.SerializerMethodField(
        help_text="A queued image's rough seconds until it is done, from your recent jobs; null unless queued or without history.")

    def get_queue_position(self, record) -> int | None:
        place = self.context.get("queue", {}).get(record.pk)
        return place[0] if place else None

    def get_queue_estimate_seconds(self, record) -> float | None:
        place = self.context.get("queue", {}).get(record.pk)
        return None if not place or place[1] is None else round(place[1], 1)


class ImageListQuerySerializer(StrictInputSerializer):
    trash = FlagField(required=False, default=False, help_text="true: list the images in your trash instead.")
    sort = serializers.ChoiceField(
        choices=list(GALLERY_SORTS), required=False,
        help_text="Order of the list (default newest); taken: by date taken, newest first (images without one last).",
    )


class ExportQuerySerializer(StrictInputSerializer):
    ids = serializers.RegexField(
        r"^\d{1,18}(,\d{1,18}){0,9999}$", required=False,
        help_text="Up to 10000 image ids, comma-separated; omitted: every image not in the trash.",
        error_messages={"invalid": "ids must be image ids separated by commas, e.g. 12,13,14."},
    )


class DeleteQuerySerializer(StrictInputSerializer):
    permanent = FlagField(
        required=False, default=False,
        help_text="true: delete the record and its encrypted files now, for good, instead of moving it to the trash.",
    )


class ImageStatusQuerySerializer(StrictInputSerializer):
    ids = serializers.RegexField(
        r"^\d{1,18}(,\d{1,18}){0,99}$", help_text="Up to 100 image ids, comma-separated.",
        error_messages={"invalid": "ids must be up to 100 image ids separated by commas, e.g. 12,13,14."},
    )
