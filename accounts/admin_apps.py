"""django.contrib.admin with a default site that needs a second factor (accounts.admin_site). Its
own module: INSTALLED_APPS names this class, and this module must import nothing that needs the
app registry ready."""
from django.contrib.admin.apps import AdminConfig


class TwoFactorAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.TwoFactorAdminSite"
