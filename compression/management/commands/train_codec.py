"""python manage.py train_codec [--data DIR ...] [--photos DIR ...] [--cifar DIR] [--run-dir DIR] [--export]

A long run in the background ends early and cleanly with `touch <run-dir>/finish`: the learning
rate decays over --decay-minutes, then the run stops (and exports with --export)."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compression.datasets import BSDS500, PHOTOS


class Command(BaseCommand):
    help = "Train (or resume training) the learned codec. Never on Kodak: it is the evaluation set."

    def add_arguments(self, parser):
        parser.add_argument("--model", default="mscae", help="model name from compression.learned.zoo")
        parser.add_argument("--data", nargs="*", default=None,
                            help="training image folders (default: ../shared/data/bsds500/{train,val})")
        parser.add_argument("--photos", nargs="*", default=None,
                            help="folders of large photographs, downscaled x2 at load (default with the "
                                 "default data: ../shared/data/photos)")
        parser.add_argument("--val-data", nargs="*", default=None,
                            help="validation folders (default: ../shared/data/bsds500/test)")
        parser.add_argument("--cifar", default=None, help="a cifar-10-batches-py folder (90/10 split)")
        parser.add_argument("--run-dir", default="runs/mscae", help="checkpoints and log; resumes if present")
        parser.add_argument("--init-weights", default=None, help="start from these weights (new run only)")
        parser.add_argument("--epochs", type=int, default=1000,
                            help="epochs to run now, counted after the run's own (or the weights') epochs")
        parser.add_argument("--steps-per-epoch", type=int, default=100)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--crop", type=int, default=256, help="side of the random training crops")
        parser.add_argument("--lr", type=float, default=None,
                            help="base learning rate of the schedule (default: the run's or --init-weights', "
                                 "else 3e-4)")
        parser.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_bfloat16"],
                            help="mixed_bfloat16 trains the transforms in bfloat16: ~1.5x faster on "
                                 "CPUs with AVX512-BF16 and on GPUs, ~8x slower elsewhere; auto picks it "
                                 "only where it runs natively; validation runs in float32 either way")
        parser.add_argument("--time-limit", type=float, default=None,
                            help="minutes, then stop cleanly; with --export the last 15%% decay the learning rate")
        parser.add_argument("--decay-minutes", type=float, default=15,
                            help="length of the decay that `touch <run-dir>/finish` starts")
        parser.add_argument("--warmup-steps", type=int, default=300,
                            help="linear learning-rate warm-up at the start of every run or resume (0: none)")
        parser.add_argument("--entropy-only", action="store_true",
                            help="freeze g_a, g_s and the gains; train the hyperprior, context and parameter network")
        parser.add_argument("--levels", type=int, default=None,
                            help="quality levels to train (default: as many as the starting weights have); more "
                                 "adds levels at the top (lambda 0.0932, 0.18), their gains extrapolated")
        parser.add_argument("--export", action="store_true",
                            help="copy the best weights to the shipped path (CODEC_WEIGHTS_DIR/<model>.weights.h5)")
        parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    def handle(self, *args, **opts):
        from compression.learned.training import train

        folders, val_folders, photos = opts["data"], opts["val_data"], opts["photos"]
        if not opts["cifar"] and folders is None:
            if not BSDS500.exists():
                raise CommandError(f"No --data given and {BSDS500} does not exist")
            folders = [str(BSDS500 / "train"), str(BSDS500 / "val")]
            val_folders = val_folders if val_folders is not None else [str(BSDS500 / "test")]
            photos = photos if photos is not None else [str(PHOTOS)]
        for folder in [*(folders or []), *(val_folders or []), *(photos or []),
                       *([opts["cifar"]] if opts["cifar"] else [])]:
            if not Path(folder).is_dir():
                raise CommandError(f"Data folder {folder!r} does not exist")
        export = str(Path(settings.CODEC_WEIGHTS_DIR) / f"{opts['model']}.weights.h5") if opts["export"] else None
        try:
            state = train(
                model_name=opts["model"], run_dir=opts["run_dir"], cifar=opts["cifar"],
                folders=folders or [], val_folders=val_folders or [], photo_folders=photos or [],
                epochs=opts["epochs"], decay_minutes=opts["decay_minutes"], warmup_steps=opts["warmup_steps"],
                steps_per_epoch=opts["steps_per_epoch"], batch_size=opts["batch_size"], crop=opts["crop"],
                learning_rate=opts["lr"], precision=opts["precision"], init_weights=opts["init_weights"],
                entropy_only=opts["entropy_only"], num_levels=opts["levels"],
                time_limit_s=opts["time_limit"] * 60 if opts["time_limit"] else None,
                export_to=export, verbose=2 if opts["quiet"] else 1, log=self.stdout.write,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Done: epoch {state.get('epoch')}, best val loss {state.get('best_val')}")
