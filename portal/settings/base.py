"""Settings every environment shares; development.py, production.py and test.py build on it.

Everything that differs between a laptop and a deployment comes from the environment, with
safe local defaults so that `make run` works on a fresh clone:

  DATA_DIR        local data directory (SQLite database, media, generated secret); default ./var
  CSRF_TRUSTED_ORIGINS   comma-separated
  DATABASE_URL    e.g. postgres://user@host:5432/db; default: SQLite in DATA_DIR
  AWS_STORAGE_BUCKET_NAME (+ AWS_LOCATION, AWS_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)  blobs on S3
  UPLOAD_MAX_BYTES, UPLOAD_MAX_PIXELS   upload limits (default 25 MiB, 50 MP)
  UPLOAD_MAX_TIFF_PAGES, UPLOAD_MAX_ANIMATION_PIXELS   pages of a TIFF (1), frames × pixels (200 MP)
  DECODE_CPU_SECONDS, DISPLAY_MAX_PIXELS   CPU seconds to decode one original (60); display rendition size (24 MP)
  UPLOAD_INCOMPLETE_AFTER_MINUTES   when a row whose original never arrived is shown as failed (10)
  AXES_FAILURE_LIMIT, AXES_COOLOFF_MINUTES   login lockout
  RETRIEVE_FAILURE_LIMIT, RETRIEVE_USER_FAILURE_LIMIT, RETRIEVE_COOLOFF_MINUTES   wrong-key lockout
  VAULT_ARGON2_TIME_COST, VAULT_ARGON2_MEMORY_KIB, VAULT_ARGON2_PARALLELISM   password-key costs
  VAULT_IDLE_MINUTES   an unlocked vault locks after this many idle minutes (default 30)
  CELERY_BROKER_URL   redis://... or amqp://... (default: an embedded filesystem broker in DATA_DIR)
  WORKER_CONCURRENCY, JOB_SOFT_TIME_LIMIT, JOB_MAX_ATTEMPTS, USER_MAX_ACTIVE_JOBS, USER_QUOTA_BYTES

The secret key, the host list, the job key and DEBUG are not here: development.py generates or
defaults them for a laptop, production.py requires them from the environment.

The upload, vault, job and quota variables above are read in product.py, which this module
imports. docs/deploy.md lists every variable, including the ones read further down (cache,
proxies, tokens, throttles, e-mail, logging, Sentry, metrics).
"""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from .env import BASE_DIR, DATA_DIR, env_bool, env_int, env_list  # noqa: F401 (re-exported)

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # django.contrib.admin with a site that asks staff for their second factor (accounts.admin_site).
    "accounts.admin_apps.TwoFactorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_ratelimit",
    "django_prometheus",
    "portal.apps.PortalConfig",
    "audit",
    "accounts",
    "compression",
    "vault",
    "benchmarks",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # First of ours: every later log line of the request carries its id.
    "portal.middleware.RequestIdMiddleware",
    # Before anything reads the body: an oversized request is refused unread.
    "portal.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor (admin, staff).
    "django_otp.middleware.OTPMiddleware",
    # After authentication: locks an idle vault and keeps the per-session vault cookie in step.
    "vault.middleware.VaultSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Turns a throttled view's exception into RATELIMIT_VIEW's 429.
    "django_ratelimit.middleware.RatelimitMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: it inspects the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # `filesize` on every page without a {% load %}: one way to write sizes (KiB, MiB).
            "builtins": ["vault.templatetags.vault_units"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers at once (web threads, workers): WAL lets readers go on during a write;
    # IMMEDIATE takes the write lock when a transaction starts, so two transactions that read and
    # then write wait their turn instead of failing with "database is locked"; the timeout is how
    # long they wait.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first: new and re-hashed passwords use it; the others only verify legacy hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # 12 characters, as ASVS 2.1.1 asks; the other validators refuse common and numeric ones.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "vault:gallery"
LOGOUT_REDIRECT_URL = "vault:landing"

# django-axes: lock an account+IP pair out after repeated failed logins.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Per username AND address: a stranger who types wrong passwords for someone else locks only
# their own address out, never the account's owner. Behind a proxy this needs the client's real
# address, hence the callable (see TRUSTED_PROXY_COUNT / TRUSTED_PROXIES below).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "portal.net.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
# Axes keeps the form fields of each failed attempt (AccessAttempt.post_data); it masks only
# "password" by itself. Every other field holding a password, a key or a code is masked too,
# or a typo of someone's password (or their recovery key) would sit in the database in clear.
AXES_SENSITIVE_PARAMETERS = [
    "username", "ip_address", "old_password", "new_password1", "new_password2", "password1", "password2",
    "recovery_key", "recovery-recovery_key", "recovery-password", "new-password", "key", "otp_token",
    "stepup_password", "stepup_code", "code",
]

# Step-up ("sudo mode", portal/stepup.py): how long a typed password (or second factor) lets a
# session mint tokens, replace the recovery key, share or change the password without asking again.
STEPUP_WINDOW = timedelta(minutes=env_int("STEPUP_MINUTES", 5))
# Two-factor (django-otp): the name authenticator apps show; the wait after a wrong code doubles
# from this many seconds (per device), on top of the shared password budget (vault/attempts.py).
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Image vault")
OTP_TOTP_THROTTLE_FACTOR = env_int("OTP_THROTTLE_FACTOR", 1)
OTP_STATIC_THROTTLE_FACTOR = env_int("OTP_THROTTLE_FACTOR", 1)

# --- Reverse proxies ---------------------------------------------------------------------------
# X-Forwarded-For is client-controlled, so it is only read when the peer is a proxy we trust:
# either the last TRUSTED_PROXY_COUNT hops are ours, or the hops are in TRUSTED_PROXIES (CIDRs).
# Used by axes, the audit log and the throttles (portal.net.client_ip).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

# --- Cache: throttles and health ----------------------------------------------------------------
# Throttles must be shared by every worker process: Redis when there is one, else a table in the
# database (created by `migrate`, see portal/apps.py). Never a per-process memory cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

# --- Throttles (django-ratelimit, per client address) ------------------------------------------
RATELIMIT_IP_META_KEY = "portal.net.throttle_ip"
RATELIMIT_VIEW = "portal.views.throttled"
THROTTLE_LOGIN = os.environ.get("THROTTLE_LOGIN", "20/m")
THROTTLE_REGISTER = os.environ.get("THROTTLE_REGISTER", "10/h")
THROTTLE_PASSWORD_RESET = os.environ.get("THROTTLE_PASSWORD_RESET", "5/h")
THROTTLE_TOKEN_CREATE = os.environ.get("THROTTLE_TOKEN_CREATE", "20/h")
# The database cache increments with a read and a write, not atomically: under a burst a few extra
# requests may pass. Redis (REDIS_URL) is exact; the fallback is still a shared, working limit.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- API tokens ---------------------------------------------------------------------------------
API_TOKEN_LIFETIME = timedelta(days=env_int("API_TOKEN_LIFETIME_DAYS", 90))
API_TOKEN_IDLE_TIMEOUT = timedelta(days=env_int("API_TOKEN_IDLE_DAYS", 30))
API_TOKEN_MAX_PER_USER = env_int("API_TOKEN_MAX_PER_USER", 10)

# --- Sessions: an idle browser is logged out ----------------------------------------------------
# The cookie's age restarts on every request, so SESSION_IDLE_MINUTES is an idle timeout.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 60) * 60
SESSION_SAVE_EVERY_REQUEST = True

# --- E-mail -------------------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    from portal.email_url import parse_email_url

    globals().update(parse_email_url(EMAIL_URL))
elif os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
# Without `collectstatic` (make run, tests) WhiteNoise serves straight from the app folders;
# production collects into STATIC_ROOT with hashed, compressed names instead.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "media/"  # never served: vault blobs are ciphertext, read only through the vault



def s3_storage(environ) -> dict:
    """django-storages' S3 backend from the environment (also used by tests/test_storage_s3.py)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["AWS_STORAGE_BUCKET_NAME"],
            # This deployment's folder in the bucket ("" = the bucket's root). Blob names already
            # start with "vault/", so the old default "vault" stored them under vault/vault/.
            # Two deployments sharing a bucket must use different locations.
            "location": environ.get("AWS_LOCATION", "").strip("/"),
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,  # MinIO and other S3 APIs
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }


if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    _default_storage = s3_storage(os.environ)
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # Per user (vault/api/views.py): uploads and downloads are the expensive requests.
    "DEFAULT_THROTTLE_RATES": {
        "uploads": os.environ.get("THROTTLE_UPLOADS", "120/min"),
        "retrievals": os.environ.get("THROTTLE_RETRIEVALS", "600/min"),
        # The pages poll once a second per open tab; a 429 only skips a round there.
        "status": os.environ.get("THROTTLE_STATUS", "300/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Learned image compression portal API",
    "DESCRIPTION": "Upload, compress, encrypt and retrieve images.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Upload limits, key costs and lockouts, background jobs, quotas, the learned codec: product.py.
from .product import *  # noqa: E402,F401,F403


# LOG_FORMAT=json (the production default) writes one JSON object per line, each with the
# request id; "plain" is easier to read on a laptop.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Error tracking: Sentry, only when SENTRY_DSN is set -----------------------------------------
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from portal.observability import init_sentry

    init_sentry(SENTRY_DSN)

# --- Prometheus metrics at /metrics --------------------------------------------------------------
# Off by default (404): request counts and codec timings are not for the public. When on, a
# scraper must send "Authorization: Bearer <METRICS_TOKEN>" if a token is set.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Content-Security-Policy (django-csp): no inline scripts or styles anywhere -------------------
# tests/test_csp.py checks the rendered pages, tests/test_browser_csp.py the browser's console.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"  # our 403 page, in words a person can act on
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
