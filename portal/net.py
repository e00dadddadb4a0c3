"""The client's address, seen through the reverse proxies this deployment trusts."""
import ipaddress
from functools import lru_cache

from django.conf import settings


def _parse(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]):
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _trusted(address, networks) -> bool:
    return any(address in net for net in networks)


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the address a trusted proxy put in X-Forwarded-For.

    X-Forwarded-For is written by whoever sends the request, so only the hops our own proxies
    appended are believed: with TRUSTED_PROXIES, hops are skipped from the right while they are
    trusted proxies; with TRUSTED_PROXY_COUNT=N, the N-th address from the right of the chain
    (X-Forwarded-For + REMOTE_ADDR) after the proxies is the client. With neither, the header is
    ignored. A chain shorter than promised falls back to the peer rather than to a forged hop.
    An empty REMOTE_ADDR is a Unix-socket peer: a process on this host, i.e. the proxy.
    """
    if request is None:
        return None
    remote = _parse(request.META.get("REMOTE_ADDR") or "")
    forwarded = [_parse(h) for h in (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
    chain = [*forwarded, remote]
    if settings.TRUSTED_PROXIES:
        networks = _networks(tuple(settings.TRUSTED_PROXIES))
        if remote is not None and not _trusted(remote, networks):
            return str(remote)
        for hop in reversed(chain[:-1]):
            if hop is None:
                break  # garbage in the header: stop at the last hop we could read
            if not _trusted(hop, networks):
                return str(hop)
        return _text(remote)
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0 and len(chain) > count:
        hop = chain[-(count + 1)]
        return str(hop) if hop is not None else _text(remote)
    return _text(remote)


def _text(address) -> str | None:
    return str(address) if address is not None else None


def throttle_ip(request) -> str:
    """client_ip for django-ratelimit, which needs an address: requests whose client cannot be
    told (no usable peer address) share one bucket rather than escaping the limit."""
    return client_ip(request) or "0.0.0.0"
