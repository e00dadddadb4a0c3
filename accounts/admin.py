from django.contrib import admin

from accounts.models import ApiToken
from accounts.services import revoke_api_token
from portal.admin import ReadOnlyAdminMixin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The digest is never shown: it is not secret-equivalent, but nobody needs it.
    list_display = ("name", "prefix", "user", "created", "last_used")
    list_filter = ("created", "last_used")
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "prefix", "user", "created", "last_used")
    readonly_fields = fields
    list_select_related = ("user",)
    # Tokens are created by their owners, who are the only ones to see them; an admin may revoke one.
    allow_delete = True

    def delete_model(self, request, obj):
        # Through the service, so an admin revocation is audited like a user's.
        revoke_api_token(user=obj.user, token_id=obj.pk, request=request)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            revoke_api_token(user=token.user, token_id=token.pk, request=request)
