"""Token primitives shared by services, selectors and authentication."""
import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits of randomness
PREFIX_LENGTH = 8


def generate_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
