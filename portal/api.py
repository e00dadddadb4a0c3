"""API-wide behaviour: every error is JSON with a human-readable `detail`."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, Ratelimited):
        # A subclass of PermissionDenied, which DRF would answer with 403.
        return Response(
            {"detail": "Too many requests from your address. Wait a few minutes and try again."},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": "60"},
        )
    from vault.jobs import JobConflict, JobLimit

    if isinstance(exc, JobLimit):
        return Response({"detail": str(exc)}, status=exc.status, headers={"Retry-After": "60"} if exc.status == 429 else {})
    if isinstance(exc, JobConflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail={"detail": " ".join(exc.messages)})
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, (dict, list)) and "detail" not in (
        response.data if isinstance(response.data, dict) else {}
    ):
        # Field errors keep their structure, and gain one sentence a person can read.
        flat = []
        items = response.data.items() if isinstance(response.data, dict) else [("", response.data)]
        for field, errors in items:
            errors = errors if isinstance(errors, list) else [errors]
            prefix = f"{field}: " if field and field != "non_field_errors" else ""
            flat.extend(f"{prefix}{e}" for e in errors)
        response.data = {"detail": " ".join(flat), "errors": response.data}
    return response
