"""Request-wide middleware: a request id for logs, and a size limit enforced before the body is read."""
import re
import uuid

from django.conf import settings
from portal.errors import text_or_json
from portal.logs import request_id_var

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Takes the proxy's X-Request-ID when it is a plausible id (so a request can be followed from
    the proxy's log into ours), otherwise makes one; returns it in the response's header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Not reset on the way out: Django logs the response (e.g. "Service Unavailable") after
        # the middleware returns, and that line belongs to this request too. The next request on
        # this thread sets its own id first.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _megabytes(size: int) -> str:
    from compression.imageio import human_bytes  # the one way sizes are written

    return human_bytes(size)


class RequestSizeLimitMiddleware:
    """413 for a request whose declared length is over REQUEST_MAX_BYTES, before one byte of its
    body is read: a 40 MiB upload is refused as it arrives instead of being received in full and
    then thrown away. (WSGI servers never hand over more than Content-Length bytes.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.REQUEST_MAX_BYTES
        if length > limit:
            return self._refuse(request, length, limit)
        return self.get_response(request)

    @staticmethod
    def _refuse(request, length: int, limit: int):
        message = (
            f"The request is {_megabytes(length)}, more than the {_megabytes(limit)} this server "
            f"accepts. Choose a smaller image (at most {_megabytes(settings.UPLOAD_MAX_BYTES)})."
        )
        # No `Connection: close`: WSGI (PEP 3333) forbids hop-by-hop headers from an application.
        # Django's development server refuses the response for it (a 500 instead of this 413) and
        # gunicorn drops it; what happens to the unread body is the server's business.
        return text_or_json(request, 413, message)
