"""The audit log moves here from accounts without touching the database: this app takes the model
into its state under the same table (accounts 0005 drops it from accounts' state), and the content
type follows, so permissions granted on audit events and admin history keep pointing at it."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, *, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(schema_editor.connection.alias)
    if not content_types.filter(app_label=target, model="auditevent").exists():
        content_types.filter(app_label=source, model="auditevent").update(app_label=target)
    content_types.clear_cache()


def content_type_to_audit(apps, schema_editor):
    _move_content_type(apps, schema_editor, source="accounts", target="audit")


def content_type_to_accounts(apps, schema_editor):
    _move_content_type(apps, schema_editor, source="audit", target="accounts")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("accounts", "0004_job_audit_events"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor_username", models.CharField(blank=True, max_length=150)),
                        ("action", models.CharField(choices=[("upload", "Upload"), ("retrieve_ok", "Retrieve OK"), ("retrieve_refused", "Retrieve refused"), ("delete", "Delete"), ("login", "Login"), ("login_failed", "Login failed"), ("lockout", "Lockout"), ("token_created", "API token created"), ("token_revoked", "API token revoked"), ("vault_created", "Vault created"), ("vault_rewrapped", "Vault re-wrapped"), ("vault_unlocked", "Vault unlocked"), ("vault_locked", "Vault locked"), ("share_created", "Share created"), ("share_opened", "Share opened"), ("share_refused", "Share refused"), ("share_revoked", "Share revoked"), ("vault_adopted", "Added to vault"), ("job_queued", "Compression queued again"), ("job_done", "Compressed"), ("job_failed", "Compression failed"), ("job_cancelled", "Compression cancelled")], db_index=True, max_length=32)),
                        ("record_id", models.PositiveBigIntegerField(blank=True, db_index=True, null=True)),
                        ("record_name", models.CharField(blank=True, max_length=255)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("detail", models.CharField(blank=True, max_length=500)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "accounts_auditevent",
                        "ordering": ["-created", "-id"],
                        "get_latest_by": "created",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_audit, content_type_to_accounts),
    ]
