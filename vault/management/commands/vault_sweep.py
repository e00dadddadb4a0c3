"""Delete encrypted blobs that no image record refers to.

Storing an image deletes its blobs itself when anything fails, so orphans only appear when a
process dies between writing blobs and committing. Run this from cron now and then.
"""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from vault.errors import SweepRefused
from vault.sweep import sweep_orphan_blobs


class Command(BaseCommand):
    help = "Delete vault blobs that no image record refers to (leftovers of interrupted uploads)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=60,
            help="Only blobs at least this old (default 60): younger ones may belong to an upload still committing.",
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be deleted, delete nothing.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Sweep even when the database knows none of the blobs (never when the storage is "
            "marked for another deployment).",
        )

    def handle(self, *args, older_than_minutes, dry_run, force, **options):
        try:
            removed = sweep_orphan_blobs(
                older_than=timedelta(minutes=older_than_minutes), dry_run=dry_run, force=force
            )
        except SweepRefused as exc:
            raise CommandError(str(exc)) from exc
        for name in removed:
            self.stdout.write(("would delete " if dry_run else "deleted ") + name)
        self.stdout.write(self.style.SUCCESS(f"{len(removed)} orphan blob(s) {'found' if dry_run else 'deleted'}."))
