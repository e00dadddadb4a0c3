"""Account pages, mounted at /accounts/. URL names are global (no namespace) because Django's auth
views reverse e.g. 'password_reset_done' and base.html links 'login', 'logout', 'register'."""
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path
from django_ratelimit.decorators import ratelimit

from accounts import twofactor_views, views


def _throttled(view, rate_setting):
    # Per client address (portal.net.client_ip) in the shared cache; POSTs only, so reading the
    # form is never refused. The rate is looked up per request so tests and operators can tune it.
    return ratelimit(key="ip", rate=lambda group, request: getattr(settings, rate_setting), method="POST", block=True)(view)


urlpatterns = [
    path("register/", _throttled(views.register, "THROTTLE_REGISTER"), name="register"),
    path("login/", _throttled(views.VaultLoginView.as_view(), "THROTTLE_LOGIN"), name="login"),
    path("login/code/", _throttled(views.login_code, "THROTTLE_LOGIN"), name="login-code"),
    path("confirm/", _throttled(views.confirm, "THROTTLE_LOGIN"), name="stepup-confirm"),
    # Django's LogoutView accepts POST only, so a link or an <img> elsewhere cannot log people out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", views.VaultPasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "password/reset/",
        _throttled(auth_views.PasswordResetView.as_view(), "THROTTLE_PASSWORD_RESET"),
        name="password_reset",
    ),
    path("password/reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        views.VaultPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("profile/", views.profile, name="profile"),
    # Throttled like the login: the password is checked here too.
    path("profile/storage/", views.storage_default, name="storage-default"),
    path("profile/delete/", _throttled(views.account_delete, "THROTTLE_LOGIN"), name="account-delete"),
    path("profile/tokens/", _throttled(views.token_create, "THROTTLE_TOKEN_CREATE"), name="token-create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("two-factor/", twofactor_views.two_factor, name="two-factor"),
    path("two-factor/setup/", twofactor_views.setup, name="two-factor-setup"),
    path("two-factor/confirm/", twofactor_views.confirm_setup, name="two-factor-confirm"),
    path("two-factor/recovery-codes/", twofactor_views.new_recovery_codes, name="two-factor-recovery-codes"),
    path("two-factor/disable/", twofactor_views.disable, name="two-factor-disable"),
]
