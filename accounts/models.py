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


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    # Bulk paths bypass Model.save()/delete(), so they are closed here too. Deleting a user still
    # works: Django's collector nulls `actor` through the plain base manager, which is what we want.
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")

    def delete(self):
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")


class AuditEvent(models.Model):
    """One security-relevant event anywhere in the portal. Append-only."""

    class Action(models.TextChoices):
        UPLOAD = "upload", "Upload"
        RETRIEVE_OK = "retrieve_ok", "Retrieve OK"
        RETRIEVE_REFUSED = "retrieve_refused", "Retrieve refused"
        DELETE = "delete", "Delete"
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOCKOUT = "lockout", "Lockout"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        VAULT_CREATED = "vault_created", "Vault created"
        VAULT_REWRAPPED = "vault_rewrapped", "Vault re-wrapped"
        VAULT_UNLOCKED = "vault_unlocked", "Vault unlocked"
        VAULT_LOCKED = "vault_locked", "Vault locked"
        SHARE_CREATED = "share_created", "Share created"
        SHARE_OPENED = "share_opened", "Share opened"
        SHARE_REFUSED = "share_refused", "Share refused"
        SHARE_REVOKED = "share_revoked", "Share revoked"
        VAULT_ADOPTED = "vault_adopted", "Added to vault"
        JOB_QUEUED = "job_queued", "Compression queued again"
        JOB_DONE = "job_done", "Compressed"
        JOB_FAILED = "job_failed", "Compression failed"
        JOB_CANCELLED = "job_cancelled", "Compression cancelled"

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the trail still names the person after their account is deleted.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    # Deliberately not a foreign key: events must outlive the image record they describe.
    record_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    record_name = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        get_latest_by = "created"

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        return f"{self.created:%Y-%m-%d %H:%M:%S} {who} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit events cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")
