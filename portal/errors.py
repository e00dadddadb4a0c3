"""Error responses of our own: a page for people, JSON (`{"detail": ...}`) under /api/.

Django calls these as handler400/403/404/500 (portal.urls) and as CSRF_FAILURE_VIEW; the API's
own errors go through portal.api.exception_handler first, and only what escapes it (an
unexpected exception, a URL no API view matches) lands here. None of them echoes the exception
text: it may carry internals (paths, SQL, a value from the request) that a visitor must not see.

`text_or_json` is the one-sentence answer where no page fits: the request-size limit (413), the
per-address throttle (429, `too_many_requests`), a vault file URL that cannot be opened.
"""
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader

API_PREFIX = "/api/"

ERRORS = {
    400: ("Bad request", "The request could not be understood. Please go back, check what you sent and try again."),
    403: ("Forbidden", "You do not have permission to do that."),
    404: ("Page not found", "There is nothing at this address. It may have been deleted, or the link is mistyped."),
    507: ("Storage full", "The server's storage is full: nothing was saved. Try again later; deleting images frees space."),
    500: ("Something went wrong on our side", "The error has been logged. Please try again in a moment."),
}
THROTTLED = "Too many requests from your address. Wait a few minutes and try again."
THROTTLE_RETRY_AFTER = 60  # seconds
CSRF_TEXT = (
    "The form had expired or came from another site, so it was not accepted. "
    "Reload the page and submit it again (your browser must accept cookies from this site)."
)


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(request, status: int, *, detail: str | None = None):
    title, text = ERRORS[status]
    detail = detail or text
    if is_api(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def text_or_json(request, status: int, detail: str, *, retry_after: int | None = None):
    """A refusal in one sentence where no page fits (a file URL, a request refused before its view
    runs): `{"detail": ...}` under /api/, plain text elsewhere."""
    if is_api(request):
        response = JsonResponse({"detail": detail}, status=status)
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def bad_request(request, exception=None):
    return error_response(request, 400)


def permission_denied(request, exception=None):
    return error_response(request, 403)


def page_not_found(request, exception=None):
    return error_response(request, 404)


def too_many_requests(request, exception=None, *, retry_after: int = THROTTLE_RETRY_AFTER):
    """A client over one of the per-address rates: django-ratelimit's answer on pages
    (RATELIMIT_VIEW) and the API's to Ratelimited."""
    return text_or_json(request, 429, THROTTLED, retry_after=retry_after)


def csrf_failure(request, reason=""):
    return error_response(request, 403, detail=CSRF_TEXT)


def server_error(request):
    title, text = ERRORS[500]
    if is_api(request):
        return JsonResponse({"detail": f"{title}. {text}"}, status=500)
    # Rendered without the request: whatever failed (the database, a context processor) must not
    # fail the error page too, so the page shows the logged-out header.
    html = loader.get_template("error.html").render({"status": 500, "title": title, "detail": text})
    return HttpResponseServerError(html)
