"""The audit log now lives in the audit app (its 0001 takes the model into its state under the
same table): accounts only forgets it; the table, its rows and its indexes stay as they are."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_job_audit_events"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
