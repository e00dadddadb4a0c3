"""The portal's append-only security log: one row per security-relevant event in any app."""
from django.conf import settings
from django.db import models


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
        TRASHED = "trashed", "Moved to the trash"
        RESTORED = "restored", "Restored from the trash"
        EXPORTED = "exported", "Vault exported"
        ACCOUNT_DELETED = "account_deleted", "Account deleted"
        STEP_UP = "step_up", "Password confirmed"
        TWO_FACTOR = "two_factor", "Two-factor"

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
        # The name the table was created with in accounts: the move to this app changed no data
        # and no schema (migrations/0001_initial.py).
        db_table = "accounts_auditevent"
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
