"""API-wide behaviour: every error is JSON with a human-readable `detail`.

`exception_handler` (REST_FRAMEWORK's EXCEPTION_HANDLER) is the one place the API turns an
exception into a response, so views raise and never build error responses themselves: the vault's
domain refusals (`vault.errors.VaultError`, answered with their own `status` and `retry_after`),
Django's ValidationError (400), django-ratelimit's Ratelimited (429), and DRF's own exceptions.
"""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import too_many_requests
from vault.errors import StorageFull, VaultError


def exception_handler(exc, context):
    if isinstance(exc, Ratelimited):
        # A subclass of PermissionDenied, which DRF would answer with 403.
        return too_many_requests(context["request"])
    if isinstance(exc, DatabaseError) and (full := StorageFull.from_database_error(exc)) is not None:
        exc = full
    if isinstance(exc, VaultError):
        # Answered without DRF's rollback: a refusal may have recorded what must stay (a wrong
        # key's count, its audit event).
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        # `fields`: what a client needs to act on the refusal (e.g. a duplicate's existing id).
        return Response({"detail": str(exc), **getattr(exc, "fields", {})}, status=exc.status, headers=headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail={"detail": " ".join(exc.messages)})
    response = drf_exception_handler(exc, context)
    if response is not None and getattr(exc, "client_code", None) and isinstance(response.data, dict):
        # A refusal the client can act on by name (e.g. "step_up_required": send the password).
        response.data["code"] = exc.client_code
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
