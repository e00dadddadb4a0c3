"""Restore a `vault_backup` folder into an empty DATA_DIR (web server and workers stopped).

    python manage.py vault_restore /backups/portal-2026-12-07 --secrets-from /root/portal-secrets
    python manage.py migrate    # when the code is newer than the backup
"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vault.backup import BackupError, copy_secrets, restore


class Command(BaseCommand):
    help = "Put a vault_backup folder in place of an empty deployment's database and blobs, and check every blob."

    def add_arguments(self, parser):
        parser.add_argument("source", type=Path, help="a folder made by vault_backup")
        parser.add_argument("--secrets-from", type=Path, help="the folder --secrets-to wrote: put secret_key and job_key back in DATA_DIR")

    def handle(self, *args, source, secrets_from, **options):
        try:
            summary = restore(source)
            copied = copy_secrets(secrets_from, Path(settings.DATA_DIR)) if secrets_from is not None else []
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Restored {summary.records} image record(s) and {summary.blobs} blob(s) from {source}; every blob checked."
        ))
        if secrets_from is not None:
            self.stdout.write(f"Secrets put back in DATA_DIR: {', '.join(copied) or 'none found'}.")
