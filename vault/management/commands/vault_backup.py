"""Back up the embedded default deployment (SQLite + blob folder) into a new folder, checked.

    python manage.py vault_backup /backups/portal-2026-12-07 --secrets-to /root/portal-secrets

See docs/deploy.md, "Backups and restore", for PostgreSQL and S3 and for what to keep apart.
"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vault.backup import BackupError, back_up, copy_secrets


class Command(BaseCommand):
    help = "Copy the SQLite database and the blob folder into a new folder and check every blob against its record."

    def add_arguments(self, parser):
        parser.add_argument("destination", type=Path, help="a new or empty folder")
        parser.add_argument(
            "--secrets-to", type=Path,
            help="also copy DATA_DIR's secret_key and job_key here: a folder apart from the backup (another disk, a safe)",
        )

    def handle(self, *args, destination, secrets_to, **options):
        try:
            if secrets_to is not None:
                copy_secrets(Path(settings.DATA_DIR), secrets_to, backup=destination)  # refuses an overlap before writing
            summary = back_up(destination)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Backed up {summary.records} image record(s) and {summary.blobs} blob(s) into {destination}; every blob checked."
        ))
        if secrets_to is None:
            self.stdout.write(
                "The secrets are not in the backup: keep SECRET_KEY and VAULT_JOB_KEY (DATA_DIR/secret_key, "
                "DATA_DIR/job_key when generated) in a separate place, or use --secrets-to."
            )
