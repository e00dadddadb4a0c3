import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from accounts.services import revoke_api_token

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
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created", "actor_username", "action", "record_id", "record_name", "ip")
    list_filter = ("action", "created")
    search_fields = ("actor_username", "record_name", "ip", "detail")
    date_hierarchy = "created"
    fields = ("created", "actor", "actor_username", "action", "record_id", "record_name", "ip", "detail")
    readonly_fields = fields
    list_select_related = ("actor",)
    actions = ["export_selected_csv"]
    change_list_template = "admin/accounts/auditevent/change_list.html"

    # Append-only: admins read and export, nobody writes through the admin.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return audit_events_csv(queryset)

    def get_urls(self):
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_filtered_csv),
            name="accounts_auditevent_export",
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
        extra_context["export_url"] = reverse("admin:accounts_auditevent_export") + (f"?{query}" if query else "")
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # The digest is never shown: it is not secret-equivalent, but nobody needs it.
    list_display = ("name", "prefix", "user", "created", "last_used")
    list_filter = ("created", "last_used")
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "prefix", "user", "created", "last_used")
    readonly_fields = fields
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False  # tokens are created by their owners, who are the only ones to see them

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        # Through the service, so an admin revocation is audited like a user's.
        revoke_api_token(user=obj.user, token_id=obj.pk, request=request)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            revoke_api_token(user=token.user, token_id=token.pk, request=request)
