"""The real portal URLs plus the test-only endpoints from tests/accounts_api_urls.py."""
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from portal.stepup import require_recent_auth
from portal.urls import urlpatterns as portal_urlpatterns
from tests.accounts_api_urls import WhoAmIView


@login_required
@require_recent_auth
def sensitive_page(request):
    """A page that is only opened (GET), like the export built elsewhere, behind the step-up."""
    return HttpResponse("the sensitive page")


urlpatterns = [
    *portal_urlpatterns,
    path("api/test/whoami/", WhoAmIView.as_view(), name="test-whoami"),
    path("test/sensitive/", sensitive_page, name="test-sensitive"),
]
