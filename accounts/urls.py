"""Account pages, mounted at /accounts/. URL names are global (no namespace) because Django's auth
views reverse e.g. 'password_reset_done' and base.html links 'login', 'logout', 'register'."""
from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.VaultLoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only, so a link or an <img> elsewhere cannot log people out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", views.VaultPasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        views.VaultPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/", views.token_create, name="token-create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
