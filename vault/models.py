"""What the vault remembers about each image. Never a plaintext key: only the data key wrapped
under the user's retrieval key, the wrap salt, and a password-hasher hash of the retrieval key.

Digests are SHA-256. MD5 is not used for security anywhere: its collisions are cheap to compute,
so an MD5 digest could not tell a substituted blob from the real one.
"""
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

sha256_hex = RegexValidator(r"^[0-9a-f]{64}$", "Expected a lowercase hex SHA-256 digest.")


class ImageRecord(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_records")
    name = models.CharField(max_length=255, help_text="The uploaded file name, sanitised.")
    created = models.DateTimeField(default=timezone.now, db_index=True)

    original_format = models.CharField(max_length=16)
    original_media_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    height = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    has_alpha = models.BooleanField(default=False)

    codec = models.CharField(max_length=32, db_index=True)
    codec_params = models.JSONField(default=dict, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    compressed_media_type = models.CharField(max_length=64)
    compressed_extension = models.CharField(max_length=16)

    original_size = models.PositiveBigIntegerField()
    compressed_size = models.PositiveBigIntegerField()
    psnr = models.FloatField(null=True, blank=True, help_text="dB; empty when the encoding is exact.")
    ssim = models.FloatField(null=True, blank=True)
    msssim = models.FloatField(null=True, blank=True)
    bpp = models.FloatField()
    encode_seconds = models.FloatField()
    total_seconds = models.FloatField()

    sha256_original = models.CharField(max_length=64, validators=[sha256_hex])
    sha256_original_blob = models.CharField(max_length=64, validators=[sha256_hex])
    sha256_compressed_blob = models.CharField(max_length=64, validators=[sha256_hex])
    original_blob = models.CharField(max_length=255)
    compressed_blob = models.CharField(max_length=255)

    wrapped_key = models.BinaryField(max_length=64, editable=False)
    wrap_salt = models.BinaryField(max_length=64, editable=False)
    key_hash = models.CharField(max_length=255, editable=False)

    failed_attempts = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "-created"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.codec})"

    @property
    def ratio(self) -> float | None:
        """Original bytes per compressed byte (higher is better)."""
        return self.original_size / self.compressed_size if self.compressed_size else None

    @property
    def percent_saved(self) -> float | None:
        if not self.original_size:
            return None
        return 100.0 * (1 - self.compressed_size / self.original_size)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0] if "." in self.name.strip(".") else self.name

    @property
    def compressed_filename(self) -> str:
        return f"{self.stem}.{self.compressed_extension}"


class UserRetrievalGuard(models.Model):
    """Wrong retrieval keys counted per user, across all of their records, so spreading guesses
    over many records does not escape the per-record limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="retrieval_guard"
    )
    failed_attempts = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"retrieval guard for {self.user}"


class VaultDeployment(models.Model):
    """This database's identity, also written as a marker object next to the blobs (see
    vault/deployment.py). The orphan sweep deletes only when both agree: a DATABASE_URL pointing
    at an empty or different database, or two deployments sharing one storage prefix, must never
    make every blob look like an orphan."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)  # a single row
    deployment_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"vault deployment {self.deployment_id}"
