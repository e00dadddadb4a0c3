"""Page forms. They check shape (a file is there, the target parses); the service does the rest."""
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

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

    choices = list(registry_choices())
    if not any(value == "auto" for value, _ in choices):
        choices.insert(0, ("auto", "Auto — pick the best codec"))
    return choices


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Image",
        help_text="JPEG, PNG, WebP, AVIF, GIF (first frame), BMP or TIFF.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    codec = forms.ChoiceField(label="Codec", initial="auto")
    target = forms.ChoiceField(label="Quality target", choices=TARGET_PRESETS, initial="balanced")
    custom_target = forms.CharField(
        label="Custom target",
        required=False,
        max_length=64,
        help_text="e.g. psnr:38, msssim:0.98, bytes:50000 or bpp:0.8",
    )
    quality = forms.FloatField(
        label="Explicit quality",
        required=False,
        help_text="The codec's own quality knob, e.g. 1–100 for JPEG. Overrides the target.",
    )

    effort = forms.ChoiceField(
        label="Effort",
        initial="default",
        required=False,
        help_text="Slower settings make smaller files.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["codec"].choices = codec_choices()
        from compression.selection.options import EFFORT_CHOICES

        self.fields["effort"].choices = EFFORT_CHOICES
        self.fields["file"].help_text += f" Up to {filesizeformat(settings.UPLOAD_MAX_BYTES)}."

    def clean(self):
        cleaned = super().clean()
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


def key_file_text(*, record, key: str) -> str:
    return (
        f"# Retrieval key for '{record.name}' (image #{record.pk}), created {record.created:%Y-%m-%d %H:%M} UTC.\n"
        "# Keep this file safe. The portal cannot recover the key: without it the image is gone.\n"
        f"{key}\n"
    )


class DownloadForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput)
    variant = forms.ChoiceField(choices=[(v, v) for v in crypto.VARIANTS], widget=forms.HiddenInput)
