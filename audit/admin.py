"""The audit log in the admin: read, filter, search and export as CSV; nobody writes through it."""
import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone

from audit.models import AuditEvent
from portal.admin import ReadOnlyAdminMixin

CSV_COLUMNS = ["created", "actor_username", "action", "record_id", "record_name", "ip", "detail"]
# Spreadsheets execute cells starting with these; record names and details come from users.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def audit_events_csv(queryset) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for event in queryset.order_by("-created", "-id").iterator():
        writer.writerow([_csv_cell(getattr(event, column)) for column in CSV_COLUMNS])
    return response


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: admins read and export, nobody writes through the admin."""

    list_display = ("created", "actor_username", "action", "record_id", "record_name", "ip")
    list_filter = ("action", "created")
    search_fields = ("actor_username", "record_name", "ip", "detail")
    date_hierarchy = "created"
    fields = ("created", "actor", "actor_username", "action", "record_id", "record_name", "ip", "detail")
    readonly_fields = fields
    list_select_related = ("actor",)
    actions = ["export_selected_csv"]
    change_list_template = "admin/audit/auditevent/change_list.html"

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return audit_events_csv(queryset)

    def get_urls(self):
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_filtered_csv),
            name="audit_auditevent_export",
        )
        return [export, *super().get_urls()]

    def export_filtered_csv(self, request):
        """The changelist's current filters and search, exported whole (not only one page)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return audit_events_csv(changelist.get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        query = request.GET.urlencode()
        extra_context["export_url"] = reverse("admin:audit_auditevent_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, extra_context=extra_context)
