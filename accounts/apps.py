from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported for their side effects: signal receivers and the OpenAPI auth extension.
        from accounts import schema, signals  # noqa: F401
