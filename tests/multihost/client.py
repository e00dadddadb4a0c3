"""HTTP to one web host, as the TLS proxy in front of it would send it: the Host every host
answers to, X-Forwarded-Proto https (production redirects plain HTTP), and cookies kept by hand
(they are Secure, so a cookie jar would not send them over this plain-HTTP hop)."""
from __future__ import annotations

import http.client
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

from benchmarks.load.client import multipart_body
from tests.multihost.cluster import HOST_NAME


class Web:
    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
                token: str | None = None, timeout: float = 60):
        """(status, headers, body)."""
        sent = {"Host": HOST_NAME, "X-Forwarded-Proto": "https", **(headers or {})}
        if token:
            sent["Authorization"] = f"Token {token}"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers, data

    def json(self, method: str, path: str, *, headers_extra: dict | None = None, **kwargs):
        headers = {"Accept": "application/json", **(headers_extra or {})}
        status, headers, data = self.request(method, path, headers=headers, **kwargs)
        return status, headers, (json.loads(data) if data else None)

    def healthy(self) -> bool:
        try:
            status, _, _ = self.request("GET", "/healthz", timeout=5)
        except OSError:
            return False
        return status == 200

    def register(self, username: str, password: str) -> int:
        """Sign up through the page, as a browser would; returns the answer's status."""
        _, _, page = self.request("GET", "/accounts/register/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"csrfmiddlewaretoken": token, "username": username, "email": f"{username}@example.org",
                          "password1": password, "password2": password}).encode()
        status, _, _ = self.request("POST", "/accounts/register/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Origin": f"https://{HOST_NAME}",
            "Referer": f"https://{HOST_NAME}/accounts/register/",
        })
        return status

    def upload(self, token: str, filename: str, data: bytes, *, idempotency_key: str, **fields):
        boundary = "multihost-boundary-7f3a"
        body = multipart_body(fields={k: str(v) for k, v in fields.items()}, filename=filename, data=data, boundary=boundary)
        return self.json("POST", "/api/v1/images/", body=body, token=token, headers_extra={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Idempotency-Key": idempotency_key,
        })
