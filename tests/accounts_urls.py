"""The real portal URLs plus the test-only endpoints from tests/accounts_api_urls.py."""
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns
from tests.accounts_api_urls import WhoAmIView

urlpatterns = [
    *portal_urlpatterns,
    path("api/test/whoami/", WhoAmIView.as_view(), name="test-whoami"),
]
