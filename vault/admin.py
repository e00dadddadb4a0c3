"""Read-only audit view of compression records and vaults. Key material (wrapped keys, salts, key
hashes, the master key's wraps and fingerprint) is never listed, shown, searched or exported here."""
from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from vault.models import ImageRecord, UserRetrievalGuard, UserVault

KEY_FIELDS = ("wrapped_key", "wrap_salt", "key_hash", "dk_wrap", "original_mac", "upload_token")


@admin.register(ImageRecord)
class ImageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "id", "name", "owner", "codec", "original_size_h", "compressed_size_h", "ratio_display",
        "psnr", "ssim", "total_seconds", "created",
    )
    list_filter = ("codec", "original_format", "has_alpha", "created")
    search_fields = ("name", "owner__username", "codec", "sha256_original", "reason")
    date_hierarchy = "created"
    list_select_related = ("owner",)
    exclude = KEY_FIELDS
    fieldsets = (
        (None, {"fields": ("owner", "name", "created")}),
        ("Original", {"fields": ("original_format", "original_media_type", "width", "height", "has_alpha", "original_size")}),
        ("Compression", {"fields": (
            "codec", "codec_params", "reason", "candidates", "compressed_media_type", "compressed_extension",
            "compressed_size", "ratio_display", "percent_saved_display", "psnr", "ssim", "msssim", "bpp",
            "encode_seconds", "total_seconds",
        )}),
        ("Storage", {"fields": (
            "vault_epoch", "original_blob", "compressed_blob", "thumbnail_blob",
            "sha256_original_blob", "sha256_compressed_blob", "sha256_thumbnail_blob", "sha256_original",
        )}),
        ("Wrong-key lockout", {"fields": ("failed_attempts", "last_failed_at", "locked_until")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting must go through vault.services.delete_image, which removes the blobs too.
        return False

    @admin.display(description="original", ordering="original_size")
    def original_size_h(self, obj):
        return filesizeformat(obj.original_size)

    @admin.display(description="compressed", ordering="compressed_size")
    def compressed_size_h(self, obj):
        return filesizeformat(obj.compressed_size)

    @admin.display(description="ratio")
    def ratio_display(self, obj):
        return f"{obj.ratio:.2f}×" if obj.ratio else "–"

    @admin.display(description="saved")
    def percent_saved_display(self, obj):
        return f"{obj.percent_saved:.1f} %" if obj.percent_saved is not None else "–"


@admin.register(UserRetrievalGuard)
class UserRetrievalGuardAdmin(admin.ModelAdmin):
    list_display = ("user", "failed_attempts", "last_failed_at", "locked_until")
    search_fields = ("user__username",)
    readonly_fields = ("user", "failed_attempts", "last_failed_at")

    def has_add_permission(self, request):
        return False


@admin.register(UserVault)
class UserVaultAdmin(admin.ModelAdmin):
    """Who has a vault, since when, and its Argon2 costs; the wraps themselves are never shown."""

    list_display = ("user", "epoch", "created", "updated", "kdf_time_cost", "kdf_memory_kib")
    search_fields = ("user__username",)
    fields = ("user", "epoch", "created", "updated", "kdf_time_cost", "kdf_memory_kib", "kdf_parallelism")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # a vault is made from its owner's password, which an admin does not have

    def has_change_permission(self, request, obj=None):
        return False
