"""Read-only audit view of compression records and vaults. Key material (wrapped keys, salts, key
hashes, the master key's wraps and fingerprint) is never listed, shown, searched or exported here."""
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils import timezone
from django.utils.text import Truncator

from compression.imageio import human_bytes
from portal.admin import ReadOnlyAdminMixin
from vault.models import ImageRecord, UserRetrievalGuard, UserVault
from vault.templatetags.vault_units import about as _about

KEY_FIELDS = ("wrapped_key", "wrap_salt", "key_hash", "dk_wrap", "job_dk_wrap", "job_task_id", "original_mac", "upload_mac", "upload_token")


@admin.register(ImageRecord)
class ImageRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Not deletable here either: deleting must go through vault.services.delete_image, which
    removes the blobs too."""

    # Few, short columns: beside the admin's two sidebars, more overflow a laptop screen.
    list_display = (
        "id", "name_short", "owner", "status", "codec", "compressed_size_h", "psnr_display", "created_short",
    )
    list_display_links = ("id", "name_short")
    list_filter = ("status", "codec", "original_format", "has_alpha", "created")
    search_fields = ("name", "owner__username", "codec", "sha256_original", "reason")
    date_hierarchy = "created"
    list_select_related = ("owner",)
    exclude = KEY_FIELDS
    fieldsets = (
        (None, {"fields": ("owner", "name", "created")}),
        ("Job", {"fields": (
            "status", "progress", "stage", "error", "job_options", "attempts", "queued_at", "started_at",
            "heartbeat_at", "finished_at", "needs_recompress",
        )}),
        ("Original", {"fields": ("original_format", "original_media_type", "width", "height", "has_alpha", "original_size_h")}),
        ("Compression", {"fields": (
            "codec", "params_table", "reason", "candidates_table", "compressed_media_type", "compressed_extension",
            "compressed_size_h", "ratio_display", "percent_saved_display", "psnr_display", "ssim_display",
            "msssim_display", "bpp_display", "encode_time", "total_time",
        )}),
        ("Storage", {"fields": (
            "storage_mode", "original_storage", "stored_bytes",
            "vault_epoch", "original_blob", "compressed_blob", "thumbnail_blob", "rendition_blob",
            "sha256_original_blob", "sha256_compressed_blob", "sha256_thumbnail_blob", "sha256_rendition_blob", "sha256_original",
        )}),
        ("Wrong-key lockout", {"fields": ("failed_attempts", "last_failed_at", "locked_until")}),
    )

    class Media:
        css = {"all": ("css/admin.css",)}

    def get_readonly_fields(self, request, obj=None):
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    # The admin holds no user's key: a record's exact figures are sealed (vault/figures.py), and
    # what it shows are the columns' Padmé-rounded sizes, said to be approximate; no scores.
    @admin.display(description="original", ordering="original_size")
    def original_size_h(self, obj):
        return _about(obj) + human_bytes(obj.original_size)

    @admin.display(description="size", ordering="compressed_size")
    def compressed_size_h(self, obj):
        return "–" if obj.compressed_size is None else _about(obj) + human_bytes(obj.compressed_size)

    @admin.display(description="ratio")
    def ratio_display(self, obj):
        return f"{_about(obj)}{obj.ratio:.2f}×" if obj.ratio else "–"

    @admin.display(description="not stored (of the upload)")
    def percent_saved_display(self, obj):
        return f"{_about(obj)}{obj.percent_saved:.1f} %" if obj.percent_saved is not None else "–"


    @admin.display(description="name", ordering="name")
    def name_short(self, obj):
        return Truncator(obj.name).chars(24)

    @admin.display(description="created", ordering="created")
    def created_short(self, obj):
        return timezone.localtime(obj.created).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="PSNR", ordering="psnr")
    def psnr_display(self, obj):
        if not obj.figures_exact:
            return "sealed"  # a list column: short
        if obj.psnr is None:
            return "exact" if obj.has_compressed else "–"
        return f"{obj.psnr:.2f} dB"

    @admin.display(description="SSIM", ordering="ssim")
    def ssim_display(self, obj):
        return _fixed(obj.ssim, 4) if obj.figures_exact else SEALED

    @admin.display(description="MS-SSIM", ordering="msssim")
    def msssim_display(self, obj):
        return _fixed(obj.msssim, 4) if obj.figures_exact else SEALED

    @admin.display(description="bits per pixel (bpp)", ordering="bpp")
    def bpp_display(self, obj):
        return _fixed(obj.bpp, 3) if obj.figures_exact else SEALED

    @admin.display(description="encode time", ordering="encode_seconds")
    def encode_time(self, obj):
        return "–" if obj.encode_seconds is None else f"{obj.encode_seconds:.3f} s"

    @admin.display(description="total time", ordering="total_seconds")
    def total_time(self, obj):
        return "–" if obj.total_seconds is None else f"{obj.total_seconds:.3f} s"

    @admin.display(description="codec parameters")
    def params_table(self, obj):
        rows = sorted((obj.codec_params or {}).items())
        return _table(("parameter", "value"), [(k, v) for k, v in rows]) if rows else "–"

    @admin.display(description="candidates tried")
    def candidates_table(self, obj):
        if not obj.figures_exact:
            return SEALED
        if not obj.candidates:
            return "–"
        rows = [
            (
                c.get("codec"),
                ", ".join(f"{k}={v}" for k, v in (c.get("params") or {}).items()),
                human_bytes(c.get("size") or 0),
                "exact" if c.get("psnr") is None else f"{c['psnr']:.2f}",
                _fixed(c.get("msssim"), 4),
                f"{c.get('seconds') or 0:.3f}",
                {True: "yes", False: "no"}.get(c.get("meets_target"), "–"),
            )
            for c in obj.candidates
        ]
        return _table(("codec", "parameters", "size", "PSNR (dB)", "MS-SSIM", "time (s)", "meets target"), rows)


SEALED = "sealed (only the owner's key opens it)"


def _fixed(value, places: int) -> str:
    return "–" if value is None else f"{value:.{places}f}"


def _table(head, rows):
    """A small read-only HTML table (focusable: it scrolls sideways on a phone); format_html escapes every cell."""
    return format_html(
        '<table class="vault-admin-table" tabindex="0"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((h,) for h in head)),
        format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)),
    )


@admin.register(UserRetrievalGuard)
class UserRetrievalGuardAdmin(admin.ModelAdmin):
    list_display = ("user", "failed_attempts", "last_failed_at", "locked_until")
    search_fields = ("user__username",)
    readonly_fields = ("user", "failed_attempts", "last_failed_at")

    # Not read-only: an admin lifts a lockout by editing locked_until. Rows come from wrong keys.
    def has_add_permission(self, request):
        return False


@admin.register(UserVault)
class UserVaultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who has a vault, since when, and its Argon2 costs; the wraps themselves are never shown."""

    list_display = ("user", "epoch", "created", "updated", "kdf_time_cost", "kdf_memory_kib")
    search_fields = ("user__username",)
    fields = ("user", "epoch", "created", "updated", "kdf_time_cost", "kdf_memory_kib", "kdf_parallelism")
    readonly_fields = fields
    # Never added here: a vault is made from its owner's password, which an admin does not have.
    allow_delete = True
