"""Production settings: the base settings, with everything secret or host-specific required from
the environment (SECRET_KEY, ALLOWED_HOSTS, VAULT_JOB_KEY) and HTTPS-only cookies, HSTS and the
SSL redirect on.

    DJANGO_SETTINGS_MODULE=portal.settings.production SECRET_KEY=... ALLOWED_HOSTS=example.org \
        VAULT_JOB_KEY=... python manage.py check --deploy

It refuses to start (ImproperlyConfigured) rather than run with a guessable key or an open host list.
"""
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import LOGGING, env_bool, env_int, env_list

_MIN_SECRET_LENGTH, _MIN_SECRET_CHARS = 50, 5  # the bar of Django's own security.W009


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if not key:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment in production.")
    if key.startswith("django-insecure") or len(key) < _MIN_SECRET_LENGTH or len(set(key)) < _MIN_SECRET_CHARS:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production ({len(key)} characters, {len(set(key))} distinct): "
            f"use at least {_MIN_SECRET_LENGTH} random characters, e.g. "
            '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
        )
    return key


def _allowed_hosts() -> list[str]:
    hosts = env_list("ALLOWED_HOSTS", [])
    if not hosts:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment in production.")
    if "*" in hosts:
        raise ImproperlyConfigured('ALLOWED_HOSTS="*" accepts any Host header; name the real host names.')
    return hosts


def _job_key() -> str:
    # Web servers and workers on other machines must share it; one generated into a machine's
    # DATA_DIR would leave every other machine's workers unable to open the jobs.
    key = os.environ.get("VAULT_JOB_KEY", "")
    if len(key) < 32:
        raise ImproperlyConfigured(
            f"VAULT_JOB_KEY must be set in the environment in production ({len(key)} characters given; at least 32 "
            'random ones, e.g. `python -c "import secrets; print(secrets.token_urlsafe(32))"`), the same on every '
            "web server and worker."
        )
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _allowed_hosts()
VAULT_JOB_KEY = _job_key()

# Never the debug page in production, whatever the environment says.
DEBUG = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Load balancers probe over plain HTTP; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)  # check --deploy expects it; opt out by env
SECURE_REFERRER_POLICY = "same-origin"

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Collected files only (hashed names, compressed copies): `collectstatic` is part of every deploy.
WHITENOISE_USE_FINDERS = False

# One JSON object per line for the log collector, unless LOG_FORMAT says otherwise.
LOGGING["handlers"]["console"]["formatter"] = os.environ.get("LOG_FORMAT", "json")
