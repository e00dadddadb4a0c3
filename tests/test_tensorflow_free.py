"""A deployment without TensorFlow (LEARNED_CODEC_ENABLED=0, see docs/deploy.md) starts and
compresses with the classical codecs: nothing on the request path imports TensorFlow or Keras."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import sys
sys.modules["tensorflow"] = None  # any `import tensorflow` / `import keras` now raises ImportError
sys.modules["keras"] = None
import django
django.setup()
from django.core.management import call_command
call_command("check")
call_command("migrate", "--noinput", verbosity=0)
from compression.registry import available_codecs
from compression.services import compress_image
from PIL import Image
names = sorted(c.name for c in available_codecs())
result = compress_image(image=Image.new("RGB", (32, 24), (200, 30, 40)), codec="auto", target=None, quality=None)
print("codecs", names, "chose", result.codec)
"""


def test_the_portal_runs_without_tensorflow_when_the_learned_codec_is_off(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}},
        "DJANGO_SETTINGS_MODULE": "portal.settings.development",
        "LEARNED_CODEC_ENABLED": "0",
        "DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert "'mscae'" not in line and "'jpeg'" in line and "chose" in line


def test_the_tensorflow_free_requirements_match_the_full_pins():
    def pins(name):
        lines = (ROOT / name).read_text().splitlines()
        return {l.split("==")[0].lower(): l for l in lines if "==" in l and not l.startswith("#")}

    full, light = pins("requirements.txt"), pins("requirements-no-tensorflow.txt")
    assert not {"tensorflow-cpu", "tensorflow_cpu", "keras"} & set(light)
    assert {name: full.get(name) for name in light} == light  # same versions, nothing extra
    for needed in ("django", "pillow", "gunicorn", "scipy", "constriction"):
        assert needed in light
