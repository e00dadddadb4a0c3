"""What the vault remembers. Never a plaintext key: each user's master key only wrapped (under
the password-derived key and under the recovery key), each image's data key only wrapped under the
master key, and the original's integrity digest keyed by the data key.

Records made before the per-user vault ("legacy" records) keep their data key wrapped under a
per-image retrieval key, its salt and a password-hasher hash of that key, and a plain SHA-256 of
the original; they still open with that key.

Blob digests are SHA-256 of the ciphertext. MD5 is not used for security anywhere: its collisions
are cheap to compute, so an MD5 digest could not tell a substituted blob from the real one.
"""
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

sha256_hex = RegexValidator(r"^[0-9a-f]{64}$", "Expected a lowercase hex SHA-256 digest.")


class ImageRecord(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Compressing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    # The columns whose exact values are sealed in figures_sealed (vault/figures.py fills them in
    # on an instance, never in the database: `save` refuses to write them back in the clear).
    FIGURE_FIELDS = (
        "original_size", "compressed_size", "bpp", "psnr", "ssim", "msssim", "ssimulacra2", "ssimulacra2_worst",
        "decided_value", "candidates", "reason", "codec_params",
    )

    class StorageMode(models.TextChoices):
        ORIGINAL = "original", "Keep the original"
        SAVER = "saver", "Storage saver"

    class OriginalStorage(models.TextChoices):
        """How the original's bytes are kept (vault/originals.py says how each is given back)."""

        AS_UPLOADED = "as-uploaded", "as uploaded"
        JXL_JPEG = "jxl-jpeg", "JPEG XL transcoding of the JPEG (the JPEG comes back byte for byte)"
        JXL_LOSSLESS = "jxl-lossless", "lossless JPEG XL (pixels and metadata come back exactly, as PNG)"
        NOT_KEPT = "not-kept", "not kept (storage saver)"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_records")
    name = models.CharField(max_length=255, help_text="The uploaded file name, sanitised.")
    created = models.DateTimeField(default=timezone.now, db_index=True)

    original_format = models.CharField(max_length=16)
    original_media_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    height = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    has_alpha = models.BooleanField(default=False)
    # When the photo was taken (EXIF or XMP), the camera's clock reading stored as if UTC: the one
    # piece of the photo's metadata in the clear, because the gallery sorts by it (see the threat
    # table in vault/README.md). Everything else the file says is in metadata_sealed.
    taken_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Camera, lens, exposure, orientation, GPS position...: JSON sealed under a subkey of the
    # image's data key (vault/metadata.py), never stored in the clear. Empty until a job has read it.
    metadata_sealed = models.BinaryField(null=True, blank=True, editable=False)

    # What the background job (vault/jobs.py) is doing. The compressed fields below stay empty until
    # a job has finished once; a later recompression replaces them only when it succeeds.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100, the job's estimate.")
    stage = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True, help_text="Why the last job failed, for the owner.")
    job_options = models.JSONField(default=dict, blank=True, help_text="codec, target, quality and effort asked for.")
    attempts = models.PositiveSmallIntegerField(default=0)
    job_task_id = models.CharField(max_length=64, blank=True, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The data key wrapped under the server's job key, so a worker can open the original without
    # the owner's master key. It exists only while a job is queued or running (see README, "Keys").
    job_dk_wrap = models.BinaryField(max_length=64, null=True, blank=True, editable=False)
    # Its compressed file was made by a model this server no longer decodes (`recompress_learned`):
    # re-encoded from the original when the owner next unlocks the vault (only MK opens it).
    needs_recompress = models.BooleanField(default=False, db_index=True)

    codec = models.CharField(max_length=32, db_index=True, blank=True)
    codec_params = models.JSONField(default=dict, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    compressed_media_type = models.CharField(max_length=64, blank=True)
    compressed_extension = models.CharField(max_length=16, blank=True)

    # The exact figures of the content (sizes, scores, candidates, the `reason` sentence quoting
    # them, codec_params' byte counts and decoded-pixel digest) sealed under a subkey of DK
    # (vault/figures.py): with them a database holder could recompress a photo they suspect and
    # match it. While it is set, the columns in FIGURE_FIELDS hold only coarse values: sizes
    # Padmé-rounded, scores and candidates empty. NULL: the columns are still exact (a record from
    # before, converted at its owner's next unlock, or a legacy record).
    figures_sealed = models.BinaryField(null=True, blank=True, editable=False)
    original_size = models.PositiveBigIntegerField(help_text="Bytes uploaded; Padmé-rounded once the figures are sealed.")
    # original: the original is kept (losslessly recompressed when that is smaller); saver: it is
    # deleted once the compressed version is stored and verified (vault/originals.py).
    storage_mode = models.CharField(max_length=16, choices=StorageMode.choices, default=StorageMode.ORIGINAL)
    original_storage = models.CharField(
        max_length=16, choices=OriginalStorage.choices, default=OriginalStorage.AS_UPLOADED,
        help_text="How the original blob holds the original.",
    )
    # The sum of the sizes of every sealed blob the record refers to, as stored (padded): what the
    # quota counts and the pages show as "stored".
    stored_bytes = models.PositiveBigIntegerField(default=0)
    compressed_size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Padmé-rounded once the figures are sealed.")
    psnr = models.FloatField(null=True, blank=True, help_text="dB; empty when the encoding is exact.")
    ssim = models.FloatField(null=True, blank=True)
    msssim = models.FloatField(null=True, blank=True)
    # SSIMULACRA 2 of the whole image and of its worst 256-px region (compression.metrics); empty
    # on records compressed before it was measured, which keep the figures they were stored with.
    ssimulacra2 = models.FloatField(null=True, blank=True, help_text="0-100; 100 when exact.")
    ssimulacra2_worst = models.FloatField(null=True, blank=True, help_text="Its worst 256-px region.")
    # Which measurement decided that the file was good enough, and its value (CompressionResult).
    decided_by = models.CharField(max_length=16, blank=True)
    decided_value = models.FloatField(null=True, blank=True)
    bpp = models.FloatField(null=True, blank=True)
    encode_seconds = models.FloatField(null=True, blank=True)
    total_seconds = models.FloatField(null=True, blank=True)

    # Legacy records only: new ones keep no unkeyed digest of the original (see original_mac).
    sha256_original = models.CharField(max_length=64, blank=True, validators=[sha256_hex])
    original_mac = models.CharField(
        max_length=64, blank=True, validators=[sha256_hex],
        help_text="HMAC-SHA256 of the original blob's plaintext under a subkey of the image's data key.",
    )
    sha256_original_blob = models.CharField(max_length=64, blank=True, validators=[sha256_hex])
    # HMAC-SHA256 of the upload's bytes under the same subkey as original_mac, kept when the
    # original blob holds another form of them (JPEG XL): a rebuilt JPEG is checked against it.
    upload_mac = models.CharField(max_length=64, blank=True, validators=[sha256_hex], editable=False)
    sha256_compressed_blob = models.CharField(max_length=64, blank=True, validators=[sha256_hex])
    sha256_thumbnail_blob = models.CharField(max_length=64, blank=True, validators=[sha256_hex])
    original_blob = models.CharField(max_length=255, blank=True, help_text="Empty once a storage saver job dropped it.")
    compressed_blob = models.CharField(max_length=255, blank=True)
    thumbnail_blob = models.CharField(max_length=255, blank=True)
    # A PNG of an original no browser draws, made by the worker (vault/display.py); empty for the rest.
    rendition_blob = models.CharField(max_length=255, blank=True)
    sha256_rendition_blob = models.CharField(max_length=64, blank=True, validators=[sha256_hex])

    # The data key wrapped under the owner's master key (AES-GCM, record id in the AAD), and which
    # of the owner's vaults that master key belongs to (a reset without the recovery key starts a
    # new vault; records of the old one stay, locked).
    dk_wrap = models.BinaryField(max_length=64, null=True, blank=True, editable=False)
    vault_epoch = models.PositiveIntegerField(null=True, blank=True)
    # The upload form's (or the API's Idempotency-Key) token: a second submit of the same upload
    # finds this record instead of storing the image twice.
    upload_token = models.CharField(max_length=64, null=True, blank=True, editable=False)
    # Recognises the same original uploaded twice (vault/duplicates.py): HMAC-SHA256 of the upload
    # under a key derived from the owner's master key, never a plain hash, so whoever holds the
    # database cannot test whether anyone stored a known photo, nor match one user's photo to
    # another's.
    duplicate_mac = models.CharField(max_length=64, blank=True, editable=False, validators=[sha256_hex])
    # When the owner deleted it: the image waits in the trash, restorable, still counted in the
    # quota, until `settings.TRASH_RETENTION` has passed (vault/images/trash.py).
    trashed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # Legacy per-image retrieval key (records stored before the per-user vault).
    wrapped_key = models.BinaryField(max_length=64, null=True, blank=True, editable=False)
    wrap_salt = models.BinaryField(max_length=64, null=True, blank=True, editable=False)
    key_hash = models.CharField(max_length=255, blank=True, editable=False)

    failed_attempts = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["owner", "-created"]),
            models.Index(fields=["owner", "duplicate_mac"], name="vault_owner_duplicate_mac"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "upload_token"], name="vault_one_record_per_upload_token"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.codec})"

    def save(self, *args, update_fields=None, **kwargs):
        # An instance showing its owner the exact figures must never write them to the clear
        # columns: a guard here rather than a rule every caller has to remember.
        if getattr(self, "figures_open", False) and (update_fields is None or set(update_fields) & set(self.FIGURE_FIELDS)):
            raise ValueError(f"Record {self.pk} holds its opened exact figures; saving them would store them in the clear.")
        super().save(*args, update_fields=update_fields, **kwargs)

    def refresh_from_db(self, *args, fields=None, **kwargs):
        super().refresh_from_db(*args, fields=fields, **kwargs)
        if fields is None:  # every column read again: the coarse values are back, nothing opened
            self.__dict__.pop("figures_open", None)
            self.__dict__.pop("figures_damaged", None)

    @property
    def figures_exact(self) -> bool:
        """The figure columns on this instance are exact: opened from figures_sealed for its
        owner (`figures_open`), or never sealed (a record from before). False: coarse values,
        shown as approximate."""
        return self.figures_sealed is None or getattr(self, "figures_open", False)

    @property
    def is_legacy(self) -> bool:
        """Stored before the per-user vault: opens only with its own retrieval key. (A vault
        record whose original never arrived has no data-key wrap either: `upload_incomplete`.)"""
        return self.dk_wrap is None and bool(self.original_blob)

    @property
    def upload_incomplete(self) -> bool:
        """The row of an upload whose original was never written (its process died in between):
        nothing opens; sending the same file again completes it (`uploads.store_image`)."""
        # dk_wrap is written in the same save as original_blob: a record whose original was let go
        # later (the compressed file kept alone) still has it.
        return self.dk_wrap is None and not self.original_blob

    @property
    def is_active(self) -> bool:
        """A job is queued or running for it."""
        return self.status in self.ACTIVE

    @property
    def in_trash(self) -> bool:
        return self.trashed_at is not None

    @property
    def purge_after(self):
        """When the trash empties itself of this image (None: not in the trash)."""
        return self.trashed_at + settings.TRASH_RETENTION if self.trashed_at else None

    @property
    def has_compressed(self) -> bool:
        return bool(self.compressed_blob)

    # ratio, stored_percent, percent_saved and compressed_percent read the instance's sizes: exact
    # once its figures were opened (or never sealed), else the Padmé-rounded columns, a few
    # percent off at most (`figures_exact` says which).
    @property
    def ratio(self) -> float | None:
        """Original bytes per compressed byte (higher is better)."""
        return self.original_size / self.compressed_size if self.compressed_size else None

    @property
    def original_kept(self) -> bool:
        return bool(self.original_blob)

    @property
    def stored_percent(self) -> float | None:
        """Stored bytes (every sealed blob) as a percentage of the upload's bytes."""
        if not self.original_size or not self.stored_bytes:
            return None
        return 100.0 * self.stored_bytes / self.original_size

    @property
    def percent_saved(self) -> float | None:
        """The share of the upload's bytes the vault does not store (all blobs counted); negative
        when it stores more than was uploaded. None until something is stored."""
        stored = self.stored_percent
        return None if stored is None else 100.0 - stored

    @property
    def compressed_percent(self) -> float | None:
        """The compressed version's size as a percentage of the upload's."""
        if not self.original_size or self.compressed_size is None:
            return None
        return 100.0 * self.compressed_size / self.original_size

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


class UserVault(models.Model):
    """One user's master key, only ever wrapped: under the Argon2id key of their login password and
    under their recovery key. The Argon2 parameters are stored per user so raising the settings
    never breaks an existing wrap."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="vault")
    epoch = models.PositiveIntegerField(default=1, help_text="Bumped when a new vault replaces one whose keys were lost.")
    kdf_salt = models.BinaryField(max_length=32, editable=False)
    kdf_time_cost = models.PositiveIntegerField()
    kdf_memory_kib = models.PositiveIntegerField()
    kdf_parallelism = models.PositiveIntegerField()
    password_wrap = models.BinaryField(max_length=80, editable=False)
    recovery_wrap = models.BinaryField(max_length=80, editable=False)
    key_check = models.CharField(max_length=32, editable=False, help_text="A one-way fingerprint of the master key.")
    # When the owner confirmed saving the current recovery key; None: the profile reminds them.
    recovery_key_saved_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"vault of {self.user}"


class Share(models.Model):
    """One image shared with whoever holds its share key: the paper's per-image key. The key (shown
    once, as a link with the key in the URL fragment) is never stored; the image's data key is
    stored wrapped under a key derived from it, bound to the record and this share. That wrap is
    also the key check: only the right key authenticates it. Revoking deletes the row and so the wrap."""

    public_id = models.CharField(max_length=32, unique=True, editable=False)
    record = models.ForeignKey(ImageRecord, on_delete=models.CASCADE, related_name="shares")
    label = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Off unless the owner chose it: the original is then served without its GPS position and
    # place names (vault/location.py); the compressed version and thumbnail never carry them.
    include_location = models.BooleanField(default=False)
    dk_wrap = models.BinaryField(max_length=80, editable=False)
    uses = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveIntegerField(default=0)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"share {self.public_id} of record {self.record_id}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
