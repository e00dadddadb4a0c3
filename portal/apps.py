from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_table(using="default", **kwargs):
    # The database cache (throttles when there is no Redis) needs its table; creating it after
    # every `migrate` means an operator never has to remember `createcachetable`.
    from django.conf import settings
    from django.core.management import call_command

    backends = {c["BACKEND"] for c in settings.CACHES.values()}
    if "django.core.cache.backends.db.DatabaseCache" in backends:
        call_command("createcachetable", database=using, verbosity=0)


class PortalConfig(AppConfig):
    name = "portal"
    label = "portal"
    verbose_name = "Portal"

    def ready(self):
        from django.apps import apps

        # post_migrate is only sent for apps with models; auth always has them and is always installed.
        auth = apps.get_app_config("auth")
        post_migrate.connect(_create_cache_table, sender=auth, dispatch_uid="portal.create_cache_table")
