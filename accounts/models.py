from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest is stored, never the token itself.

    Tokens are 256-bit random strings, so a fast unsalted hash is enough: there is nothing to
    brute-force, and a fast hash lets us look the token up by its digest in one indexed query.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the token, so a user can tell their tokens apart; far too short to use.
    prefix = models.CharField(max_length=8)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    # The owner's vault master key wrapped under a key derived from this token's secret (which is
    # never stored), so the token alone can open the vault and deleting the row destroys the wrap.
    # Empty for tokens made without the vault open: they can list images but not open them.
    master_key_wrap = models.BinaryField(max_length=80, null=True, blank=True, editable=False)

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        READ_WRITE = "read_write", "Read and write"

    # A leaked token is bounded in time (absolute expiry, and idle expiry: see settings) and, for
    # read-only tokens, in power: it can list and download, never upload or delete.
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ_WRITE)
    expires = models.DateTimeField()

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def expiry_reason(self, *, now, idle_timeout) -> str | None:
        """Why this token no longer works at `now`, or None while it does."""
        if now >= self.expires:
            return "This API token has expired. Create a new one on your profile page."
        last_activity = self.last_used or self.created
        if last_activity is not None and now - last_activity >= idle_timeout:
            days = idle_timeout.days or 1
            return (
                f"This API token was unused for more than {days} day{'s' if days != 1 else ''} and has "
                "expired. Create a new one on your profile page."
            )
        return None


class Preferences(models.Model):
    """A person's choices that are not about signing in: what an upload does unless they say
    otherwise. Read by the vault's pages and API through `portal.preferences` (the vault never
    imports accounts)."""

    class StorageMode(models.TextChoices):
        # The same values as vault.models.ImageRecord.StorageMode (a test keeps them equal).
        ORIGINAL = "original", "Keep the original"
        SAVER = "saver", "Storage saver"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="preferences")
    storage_mode = models.CharField(
        max_length=16, choices=StorageMode.choices, default=StorageMode.ORIGINAL,
        help_text="The storage mode of new uploads unless the upload says otherwise.",
    )

    def __str__(self) -> str:
        return f"preferences of {self.user}"
