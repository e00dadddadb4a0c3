"""The load benchmark's HTTP client (standard library only) and the multipart body it uploads."""
from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def multipart_body(*, fields: dict[str, str], filename: str, data: bytes, boundary: str) -> bytes:
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts)


class Client:
    """A tiny API client. Proxies are switched off: an http_proxy in the environment must not
    route loopback traffic elsewhere (or add its own latency to the figures)."""

    def __init__(self, base_url: str, *, timeout: float):
        self.base_url = base_url
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def absolute(self, location: str) -> str:
        if location.startswith(("http://", "https://")):
            return location
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}{location}" if location.startswith("/") else f"{self.base_url}/{location}"

    def call(self, method: str, url: str, *, token: str, body: bytes | None = None, headers=None):
        """(status, headers, body bytes); an HTTP error status is an answer, not an exception.
        Transport failures raise."""
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Token {token}")
        request.add_header("Accept", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers, exc.read()


def exception_name(exc: BaseException) -> str:
    # URLError wraps the interesting part (ConnectionRefusedError, a timeout...).
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    return type(inner).__name__


def decode_json(body: bytes) -> dict | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
