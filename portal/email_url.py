"""EMAIL_URL -> Django's e-mail settings.

    smtp://user:password@mail.example.org:587      STARTTLS (the default for smtp://)
    smtps://user:password@mail.example.org:465     implicit TLS
    smtp://relay:25?tls=0                          plain, e.g. a relay on the same host
    console://                                     print messages (development)
"""
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}


def parse_email_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in _BACKENDS:
        raise ImproperlyConfigured(
            f'EMAIL_URL scheme "{parts.scheme}" is not one of {", ".join(sorted(_BACKENDS))}.'
        )
    config = {"EMAIL_BACKEND": _BACKENDS[parts.scheme]}
    if parts.scheme not in {"smtp", "smtps"}:
        return config
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ssl = parts.scheme == "smtps"
    tls = not ssl and query.get("tls", "1").lower() not in {"0", "false", "no", "off"}
    config.update(
        EMAIL_HOST=parts.hostname or "localhost",
        EMAIL_PORT=parts.port or (465 if ssl else 587),
        EMAIL_HOST_USER=unquote(parts.username or ""),
        EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
        EMAIL_USE_SSL=ssl,
        EMAIL_USE_TLS=tls,
    )
    return config
