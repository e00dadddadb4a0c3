"""Thin page views for accounts; logic lives in services.py, reads in selectors.py."""
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.deletion import delete_account
from accounts.forms import AccountDeleteForm, ApiTokenCreateForm, RegistrationForm, VaultSetPasswordForm
from accounts.selectors import api_tokens_for_user
from accounts.services import create_api_token, revoke_all_api_tokens, revoke_api_token
from vault import keyring, sessions, unlocking
from vault.errors import WrongSecret
from vault.selectors import shares_for
from vault.views.keys import recovery_key_page

# Registration logs the user in directly; axes only watches authenticate(), so name the real backend.
_LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@sensitive_post_parameters("password1", "password2")
@sensitive_variables("master_key", "recovery")
@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("vault:gallery")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend=_LOGIN_BACKEND)
        master_key, recovery = keyring.create_vault(user=user, password=form.cleaned_data["password1"], request=request)
        unlocking.open_vault_session(request, master_key=master_key)
        messages.success(request, f"Welcome, {user.get_username()}! Your account and your vault are ready.")
        return recovery_key_page(request, recovery_key=recovery, next_url=reverse("vault:gallery"))
    return render(request, "accounts/register.html", {"form": form})


class VaultLoginView(auth_views.LoginView):
    """Django's login, which also unlocks the user's vault with the password just checked."""

    redirect_authenticated_user = True

    @method_decorator(sensitive_variables("outcome"))
    def form_valid(self, form):
        response = super().form_valid(form)
        outcome = unlocking.unlock_at_login(self.request, user=form.get_user(), password=form.cleaned_data["password"])
        if outcome.recovery_key:
            return recovery_key_page(self.request, recovery_key=outcome.recovery_key, next_url=self.get_success_url(), first_login=True)
        if outcome.master_key is None:
            messages.warning(self.request, "Your password no longer opens your vault (was it reset?). Use your recovery key.")
            return redirect(f"{reverse('vault:unlock-vault')}?next={quote(self.get_success_url())}")
        return response


class VaultPasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, which re-wraps the vault key under the new password (nothing is
    re-encrypted) and revokes the user's API tokens. Other sessions end by themselves: Django ties
    sessions to the password hash, and update_session_auth_hash keeps only this one."""

    @method_decorator(sensitive_variables("master_key"))
    def form_valid(self, form):
        user = form.user
        try:
            master_key = keyring.unlock_with_password(user=user, password=form.cleaned_data["old_password"], request=self.request)
        except WrongSecret:
            master_key = None  # the vault did not open with the old password either: nothing to re-wrap
        response = super().form_valid(form)
        if master_key is not None:
            keyring.rewrap_password(user=user, master_key=master_key, password=form.cleaned_data["new_password1"], request=self.request)
            unlocking.open_vault_session(self.request, master_key=master_key)
        revoke_all_api_tokens(user=user, request=self.request, reason="password changed")
        return response


def _profile_response(request, *, form=None, new_token=None, new_plaintext=None, status=200):
    context = {
        "tokens": api_tokens_for_user(user=request.user),
        "form": form or ApiTokenCreateForm(),
        "new_token": new_token,
        "new_plaintext": new_plaintext,
        "vault": keyring.vault_of(request.user),
        "unlocked": sessions.session_master_key(request) is not None,
        "shares": shares_for(request.user),
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET"])
def profile(request):
    return _profile_response(request)


@sensitive_variables("master_key", "plaintext")
@never_cache
@login_required
@require_POST
def token_create(request):
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _profile_response(request, form=form)
    # The token gets its own wrap of the vault key, so the vault must be open now (a locked vault
    # sends the person to the password page and back to the profile).
    master_key = sessions.master_key_for(request)
    try:
        token, plaintext = create_api_token(
            user=request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], request=request,
            master_key=master_key,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _profile_response(request, form=form, status=400)
    # The plaintext is rendered into this one response and nowhere else (not the session, not a
    # message): reloading the profile can never show it again. never_cache keeps it out of caches.
    return _profile_response(request, new_token=token, new_plaintext=plaintext)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    revoke_api_token(user=request.user, token_id=token_id, request=request)
    messages.success(request, "API token revoked. Clients using it can no longer sign in.")
    return redirect("profile")


@sensitive_post_parameters("password")
@sensitive_variables("form")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    """Delete the account and everything in it, after the password is entered again."""
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            delete_account(user=request.user, password=form.cleaned_data["password"], request=request)
        except WrongSecret as exc:
            form.add_error("password", str(exc))
        else:
            logout(request)  # the session (and its sealed master key) goes too
            messages.success(request, "Your account, your images and everything stored with them are deleted.")
            return redirect("vault:landing")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/account_delete.html", {"form": form}, status=status)


class VaultPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset confirmation with the vault's recovery step (see VaultSetPasswordForm)."""

    form_class = VaultSetPasswordForm

    def form_valid(self, form):
        response = super().form_valid(form)
        if form.new_recovery_key:
            # The new vault's recovery key: this response is the only place it ever appears.
            return recovery_key_page(self.request, recovery_key=form.new_recovery_key, next_url=reverse("login"))
        return response
