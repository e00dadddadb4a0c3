from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import views as portal_views

urlpatterns = [
    path("", include("vault.urls")),
    # Browsers that ignore <link rel="icon"> still ask for /favicon.ico. The URL is looked up per
    # request: with the manifest storage it exists only after collectstatic, not at import.
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("favicon.svg"))),
    path("accounts/", include("accounts.urls")),
    path("benchmarks/", include("compression.evaluation.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's script from a URL, not inline: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("metrics", portal_views.metrics, name="metrics"),
]

# Our own pages (JSON under /api/): see portal.errors.
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
