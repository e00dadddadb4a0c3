"""Page forms. They check shape (a file is there, the target parses); the service does the rest."""
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from vault import crypto

TARGET_PRESETS = [
    ("lossless", "Lossless — every pixel exact"),
    ("visually-lossless", "Visually lossless"),
    ("high", "High quality"),
    ("balanced", "Balanced (recommended)"),
    ("small", "Small file"),
    ("custom", "Custom target…"),
]


def codec_choices():
    # Imported lazily: the registry loads codecs (the learned one pulls in Keras) on first use.
    from compression.registry import codec_choices as registry_choices

    # A short label for auto: the long one is cut off in a phone-width select; the help explains it.
    choices = [(value, label) for value, label in registry_choices() if value != "auto"]
    return [("auto", "Automatic (recommended)"), *choices]


UPLOAD_MAX_FILES = 50  # files in one submission of the form


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or several files: cleaned to a list (Django's documented pattern)."""

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        if len(files) > UPLOAD_MAX_FILES:
            raise ValidationError(f"{len(files)} files at once is too many; the limit is {UPLOAD_MAX_FILES} per upload.")
        return [self._clean_one(one, initial) for one in files]

    def _clean_one(self, one, initial):
        if getattr(one, "name", None) and not getattr(one, "size", None):
            # An empty file among others: the service refuses it by name ("'x.png' is empty"), and
            # the other files of the form are still stored.
            return one
        return super().clean(one, initial)


class CompressionOptionsForm(forms.Form):
    """Codec, target, quality and effort: for an upload, or to compress a stored original again."""

    codec = forms.ChoiceField(
        label="Codec",
        initial="auto",
        help_text="Automatic tries every suitable codec and keeps the smallest file that meets the target.",
    )
    target = forms.ChoiceField(label="Quality target", choices=TARGET_PRESETS, initial="balanced")
    custom_target = forms.CharField(
        label="Custom target",
        required=False,
        max_length=64,
        help_text="e.g. ssimulacra2:75, psnr:38, msssim:0.98, bytes:50000 or bpp:0.8",
    )
    quality = forms.FloatField(
        label="Explicit quality",
        required=False,
        help_text="The codec's own quality setting; it replaces the target. Leave empty to search for the target.",
    )
    effort = forms.ChoiceField(
        label="Effort",
        initial="default",
        required=False,
        help_text="Fast keeps the file the search found; Default encodes the winner again with slower settings for a "
                  "smaller file; Max uses the slowest, smallest settings.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["codec"].choices = codec_choices()
        from compression.registry import available_codecs
        from compression.selection.options import EFFORT_CHOICES

        self.fields["effort"].choices = EFFORT_CHOICES
        # Which codecs take a quality, and its range: the page shows the field only for those.
        self.quality_ranges = {c.name: list(c.quality_range) for c in available_codecs() if c.quality_range}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("quality") is not None and cleaned.get("codec") == "auto":
            # Auto picks the quality for the target; a quality given with it used to vanish silently.
            self.add_error(
                "quality",
                f"Quality {cleaned['quality']:g} needs a codec: Automatic chooses the quality itself. "
                "Pick a codec, or leave the quality empty.",
            )
        target = cleaned.get("target")
        if target == "custom":
            text = (cleaned.get("custom_target") or "").strip()
            if not text:
                self.add_error("custom_target", "Enter a custom target such as psnr:38, or pick a preset.")
                return cleaned
            target = text
        if target:
            from compression.targets import parse_target

            try:
                parse_target(target)
            except ValueError as exc:
                self.add_error("custom_target" if cleaned.get("target") == "custom" else "target", str(exc))
        cleaned["target_text"] = target
        return cleaned


class RecompressForm(CompressionOptionsForm):
    @classmethod
    def for_record(cls, record) -> "RecompressForm":
        """An unbound form showing the options the record's last job asked for."""
        options = record.job_options or {}
        target = options.get("target") or "balanced"
        presets = {value for value, _label in TARGET_PRESETS}
        initial = {
            "codec": options.get("codec") or "auto",
            "target": target if target in presets else "custom",
            "custom_target": "" if target in presets else target,
            "quality": options.get("quality"),
            "effort": options.get("effort") or "default",
        }
        return cls(initial=initial)


STORAGE_CHOICES = [
    ("original", "Keep the original — it comes back exactly; stored losslessly in fewer bytes where possible"),
    ("saver", "Storage saver — keep only the compressed version; the original is deleted"),
]
STORAGE_HELP = (
    "Storage saver gives up the original for good: once the compressed version is stored, the original file is "
    "deleted, so you cannot download it, share it or compress it again, and the compressed version is all "
    "there is (smaller, but not identical to what you uploaded)."
)


class UploadForm(CompressionOptionsForm):
    field_order = ["file"]
    storage = forms.ChoiceField(
        label="What to keep", choices=STORAGE_CHOICES, initial="original", widget=forms.RadioSelect, help_text=STORAGE_HELP,
        required=False,  # left out (an older page, a script): the profile's default
    )
    file = MultipleFileField(
        label="Images",
        help_text="JPEG, PNG, WebP, AVIF, HEIC/HEIF (iPhone), GIF (first frame), BMP or TIFF; several at once if you like.",
        # .heic and .heif by name too: some systems do not count them as image/*.
        widget=MultipleFileInput(attrs={"accept": "image/*,.heic,.heif"}),
    )
    upload_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    allow_duplicate = forms.BooleanField(
        label="Keep a second copy of a file I stored before",
        required=False,
        help_text="Without this, a file you stored before is not stored again: you are shown the one you have.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text += f" Up to {megabytes(settings.UPLOAD_MAX_BYTES)} each."
        self.fields["file"].widget.attrs["data-max-bytes"] = settings.UPLOAD_MAX_BYTES


def megabytes(n: int) -> str:
    """The size as compression.imageio words its too-large error, so the help and the error agree."""
    from compression.imageio import human_bytes

    return human_bytes(n)


class UnlockForm(forms.Form):
    key = forms.CharField(
        label="Retrieval key",
        required=False,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "XXXX-XXXX-…", "class": "mono"}
        ),
    )
    key_file = forms.FileField(label="…or upload the key file", required=False)

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("key") or ""
        upload = cleaned.get("key_file")
        if not text and upload:
            if upload.size > 4096:
                raise ValidationError(f"'{upload.name}' is {upload.size} bytes; a key file is under 1 KB.")
            raw = upload.read()
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError(f"'{upload.name}' is not a text key file.") from None
            text = key_from_file_text(content)
        if not text:
            raise ValidationError("Enter your retrieval key or upload your key file.")
        try:
            crypto.parse_retrieval_key(text)
        except crypto.MalformedKey as exc:
            raise ValidationError(str(exc)) from None
        cleaned["key_text"] = text
        return cleaned


def key_from_file_text(content: str) -> str:
    """The key from a key file: every line that is not a '#' comment, joined."""
    lines = [line.strip() for line in content.splitlines()]
    return "".join(line for line in lines if line and not line.startswith("#"))


class DownloadForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput)
    # Records from before the vault (the only ones downloaded with a key) have no thumbnail.
    variant = forms.ChoiceField(choices=[("original", "original"), ("compressed", "compressed")], widget=forms.HiddenInput)


class VaultUnlockForm(forms.Form):
    password = forms.CharField(
        label="Your account password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class RecoveryUnlockForm(forms.Form):
    recovery_key = forms.CharField(
        label="Recovery key", max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono", "placeholder": "XXXX-XXXX-…"}),
    )
    password = forms.CharField(
        label="Your current password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Your vault will open with this password again from now on.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("recovery_key"):
            try:
                crypto.parse_retrieval_key(cleaned["recovery_key"])
            except crypto.MalformedKey as exc:
                self.add_error("recovery_key", str(exc).replace("retrieval key", "recovery key"))
        return cleaned


class NewVaultForm(forms.Form):
    password = forms.CharField(
        label="Your current password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(
        label="I understand that the images in my current vault can never be opened again.", required=True,
    )


SHARE_EXPIRY_CHOICES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("0", "Never (until I revoke it)")]


class ShareCreateForm(forms.Form):
    label = forms.CharField(label="Label", required=False, max_length=100, help_text="e.g. who you send it to.")
    expires_in_days = forms.ChoiceField(label="Expires after", choices=SHARE_EXPIRY_CHOICES, initial="7")
    include_location = forms.BooleanField(
        label="Include where it was taken", required=False,
        help_text="Off: the original is shared without its GPS position and place names (the compressed version never has them).",
    )

    def expires_at(self):
        from datetime import timedelta

        from django.utils import timezone

        days = int(self.cleaned_data["expires_in_days"])
        return timezone.now() + timedelta(days=days) if days else None


SHARE_VARIANTS = [("open", "Open the share page"), ("display", "View"), ("original", "Original file"), ("compressed", "Compressed file"), ("decoded", "Compressed, as PNG")]


class ShareOpenForm(forms.Form):
    key = forms.CharField(
        label="Share key", max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono", "placeholder": "XXXX-XXXX-…"}),
    )
    variant = forms.ChoiceField(choices=SHARE_VARIANTS, initial="open", widget=forms.HiddenInput)


class RecoveryKeyRegenerateForm(forms.Form):
    """Making a new recovery key: the password every time, and a tick that the old key goes."""

    understood = forms.BooleanField(
        label="I understand that my current recovery key stops working at once, and that I must save the new one.",
    )
    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
