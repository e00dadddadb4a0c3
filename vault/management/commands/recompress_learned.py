"""Find images whose learned-codec file was made by a model this server no longer has, and have
them re-encoded from their originals.

The server cannot open an original by itself (each is sealed under a data key only its owner's
master key unwraps), so this flags the records; each owner's next login or vault unlock queues
them as background jobs (progress in the gallery), and a job replaces the old file only once the
new one has been decoded back (the codec's decode check) and committed.
"""
from django.core.management.base import BaseCommand, CommandError

from compression.base import CodecError
from compression.registry import get_codec
from vault.jobs.dispatch import flag_old_model_files


class Command(BaseCommand):
    help = "Flag stored learned-codec files of an old model for re-encoding from their originals."

    def add_arguments(self, parser):
        parser.add_argument("--codec", default="mscae", help="the learned codec's name (default: mscae)")

    def handle(self, *args, codec, **options):
        try:
            current = get_codec(codec).model_id
        except CodecError as exc:
            raise CommandError(f"{exc} (is LEARNED_CODEC_ENABLED on and are its weights present?)") from None
        if not current:
            raise CommandError(f"Codec {codec!r} has no trained model, so none of its files can be out of date.")
        per_owner = flag_old_model_files(codec_name=codec, model_id=current)
        total = sum(per_owner.values())
        if not total:
            self.stdout.write(f"Every {codec} file was made by the current model ({current}); nothing to do.")
            return
        self.stdout.write(
            f"Flagged {total} {codec} image{'s' if total != 1 else ''} of {len(per_owner)} user"
            f"{'s' if len(per_owner) != 1 else ''} (current model {current}). Each is re-encoded from its "
            "original as a background job when its owner next logs in or unlocks their vault: only their "
            "key opens the original. The old file stays until the new one has decoded."
        )
