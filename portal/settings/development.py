"""Settings for a laptop (`make run`, manage.py, the Celery workers it starts): the base settings
with local defaults for what production.py requires.

  SECRET_KEY      generated once into DATA_DIR/secret_key when unset
  DJANGO_DEBUG    "1" to enable Django's debug pages (`make run` sets it); off otherwise
  ALLOWED_HOSTS   comma-separated; default 127.0.0.1, localhost, testserver
  VAULT_JOB_KEY   wraps queued images' data keys for the workers; generated into DATA_DIR when unset
"""
import os
import secrets
import time

from .base import *  # noqa: F401,F403
from .base import DATA_DIR, env_bool, env_list


def local_secret(name: str, make) -> str:
    """The secret kept in DATA_DIR/`name`, made with `make()` the first time it is asked for."""
    # Generated once and kept in the data directory (not in git) so sessions and queued jobs
    # survive restarts without anyone committing a key. O_EXCL: the web server and the worker
    # start together, and only one of them may create it.
    path = DATA_DIR / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(make())
    for _ in range(50):  # the other process may be between creating and writing it
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it to generate a new one.")


SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret("secret_key", lambda: secrets.token_urlsafe(50))
# Off unless asked for by name: a debug page shows settings, local variables (retrieval keys in
# unlock and upload) and every URL pattern. DJANGO_DEBUG rather than DEBUG so that a generic
# DEBUG=1 left in a shell or a container image cannot switch it on by accident.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

# The key that wraps each queued image's data key for the worker (see vault/jobs.py). Generated
# into the data directory like SECRET_KEY; every web server and worker must share it.
VAULT_JOB_KEY = os.environ.get("VAULT_JOB_KEY") or local_secret("job_key", lambda: secrets.token_urlsafe(32))
