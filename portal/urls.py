from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import views as portal_views

urlpatterns = [
    path("", include("vault.urls")),
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
