"""What the apps' admin classes share."""


class ReadOnlyAdminMixin:
    """For models the admin shows but never adds or edits: their rows are made by their owners or
    by the portal itself. Deleting is refused too, unless `allow_delete` is set (then the model
    admin's usual delete permission applies)."""

    allow_delete = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.allow_delete and super().has_delete_permission(request, obj)
