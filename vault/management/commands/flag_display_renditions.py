"""Find images whose original no browser draws (TIFF, BMP, GIF, HEIC) and that have no display
rendition, because they were stored before the worker made them, and have the worker make one.

Until then their display URL and a share's "Show the image" say "not made yet" (the web process
never decodes an original). The server cannot open an original by itself, so this flags the
records; each owner's next login or vault unlock queues them again (the same codec), and the job
makes the rendition as soon as it has decoded the original.
"""
from django.core.management.base import BaseCommand

from vault.jobs.dispatch import flag_missing_renditions


class Command(BaseCommand):
    help = "Flag images without a display rendition so that their owner's next unlock has the worker make one."

    def handle(self, *args, **options):
        per_owner = flag_missing_renditions()
        total = sum(per_owner.values())
        if not total:
            self.stdout.write("Every image that needs a display rendition has one; nothing to do.")
            return
        self.stdout.write(
            f"Flagged {total} image{'s' if total != 1 else ''} of {len(per_owner)} user{'s' if len(per_owner) != 1 else ''}. "
            "Each is processed again as a background job when its owner next logs in or unlocks their vault "
            "(only their key opens the original); its rendition is made as soon as the job has decoded it."
        )
