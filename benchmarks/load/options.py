"""The load benchmark's option checks and bounds: every refusal says which value and why."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.errors import BenchmarkError
from compression.datasets import IMAGE_SUFFIXES, image_files
from compression.targets import parse_target

# Bounds: the benchmark shares a small machine with the server it measures, and an accidental
# `--users 2000 --duration 36000` should be refused, not run overnight.
MAX_USERS = 50
MAX_DURATION_S = 600
MAX_POLL_TIMEOUT_S = 3600
MAX_IMAGES = 200
MAX_UPLOADS = 10_000

BOUNDS = {
    "users": (1, MAX_USERS),
    "duration": (1, MAX_DURATION_S),
    "max_uploads": (1, MAX_UPLOADS),
    "pace": (0, 600),
    "poll_timeout": (0, MAX_POLL_TIMEOUT_S),
    "poll_interval": (0.1, 60),
    "poll_window": (1, 1000),
    "request_timeout": (1, 600),
}


def validate_base_url(url: str) -> str:
    """The base URL without a trailing slash, refused unless its host is a loopback address: the
    benchmark floods the server it points at and must never be aimed at someone else's."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise BenchmarkError(f'--base-url "{url}" must start with http:// or https://.')
    if parts.username or parts.password or parts.query or parts.fragment:
        raise BenchmarkError(f'--base-url "{url}" must be scheme, host, port and path only.')
    host = parts.hostname or ""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise BenchmarkError(
                f'--base-url "{url}": host "{host}" is not a loopback address; this benchmark only '
                "runs against a server on this machine (127.0.0.1, ::1 or localhost)."
            )
    try:
        parts.port
    except ValueError:
        raise BenchmarkError(f'--base-url "{url}" has an invalid port.') from None
    return url.strip().rstrip("/")


def validate_bounds(**values) -> None:
    """Each option (by its keyword name in BOUNDS) within its range."""
    for name, value in values.items():
        low, high = BOUNDS[name]
        if not low <= value <= high:
            flag = "--" + name.replace("_", "-")
            raise BenchmarkError(f"{flag} {value:g} is out of range: use {low:g} to {high:g}.")


def validate_codec(codec: str, choices) -> str:
    names = [value for value, _label in choices]
    if codec not in names:
        raise BenchmarkError(f'--codec "{codec}" is not available here: use one of {", ".join(names)}.')
    return codec


def validate_target(target: str) -> str:
    """The quality target sent with each upload, stripped; "" leaves the choice to the server."""
    target = (target or "").strip()
    if target:
        try:
            parse_target(target)
        except ValueError as exc:
            raise BenchmarkError(f"--target: {exc}") from None
    return target


def list_images(folder) -> list[Path]:
    """The folder's image files in name order (round-robin is then reproducible), at most
    MAX_IMAGES of them: they are all held in memory during the run."""
    path = Path(folder)
    if not path.is_dir():
        raise BenchmarkError(f'--images "{folder}" is not a folder.')
    try:
        return image_files(path, limit=MAX_IMAGES)
    except FileNotFoundError:
        raise BenchmarkError(
            f'--images "{folder}" holds no images (looked for {", ".join(sorted(IMAGE_SUFFIXES))}).'
        ) from None
