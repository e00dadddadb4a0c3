"""Thin page views for accounts; logic lives in services.py, reads in selectors.py. The two-factor
settings page is in twofactor_views.py."""
import time
from urllib.parse import quote

import django_otp
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts import twofactor
from portal import preferences, stepup
from accounts.deletion import delete_account
from accounts.forms import (
    AccountDeleteForm, ApiTokenCreateForm, LoginCodeForm, RegistrationForm, StorageDefaultForm, VaultPasswordChangeForm,
    VaultSetPasswordForm,
)
from accounts.selectors import api_tokens_for_user, security_events_for
from accounts.services import create_api_token, revoke_all_api_tokens, revoke_api_token
from vault import jobs, keyring, sessions, unlocking
from vault.errors import PasswordLocked, WrongSecret
from vault.selectors import shares_for
from vault.views.common import safe_next
from vault.views.keys import recovery_key_page

# Registration logs the user in directly; axes only watches authenticate(), so name the real backend.
_LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Between a login's password and its second factor: who, since when, and where to go after.
_PENDING_LOGIN = "pending_login"
_PENDING_LOGIN_SECONDS = 300


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
        stepup.mark_recent_auth(request)  # the password was typed just now
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
        user = form.get_user()
        if twofactor.enabled(user):
            return self._ask_for_code(user, password=form.cleaned_data["password"])
        response = super().form_valid(form)
        stepup.mark_recent_auth(self.request)
        outcome = unlocking.unlock_at_login(self.request, user=user, password=form.cleaned_data["password"])
        if outcome.recovery_key:
            return recovery_key_page(self.request, recovery_key=outcome.recovery_key, next_url=self.get_success_url(), first_login=True)
        if outcome.master_key is None:
            messages.warning(self.request, "Your password no longer opens your vault (was it reset?). Use your recovery key.")
            return redirect(f"{reverse('vault:unlock-vault')}?next={quote(self.get_success_url())}")
        if user.is_staff:
            messages.warning(self.request, "Staff accounts need two-factor authentication: set it up to use the admin.")
            return redirect("two-factor")
        return response

    @method_decorator(sensitive_variables("password", "master_key"))
    def _ask_for_code(self, user, *, password):
        """The password was right; the login happens only after the second factor. The password
        unwraps MK now (it is the only thing that can) and MK waits sealed for the code."""
        request = self.request
        master_key = None
        if keyring.vault_of(user) is not None:
            master_key = keyring.open_or_create_vault(user=user, password=password, request=request).master_key
        request.session.cycle_key()
        if master_key is not None:
            sessions.hold_pending(request, master_key=master_key, user_id=user.pk)
        request.session[_PENDING_LOGIN] = {"user": user.pk, "backend": user.backend, "at": int(time.time()), "next": self.get_success_url()}
        return redirect("login-code")


@sensitive_post_parameters("code")
@sensitive_variables("master_key")
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request):
    """The login's second step: a code from the authenticator app or a recovery code."""
    pending = request.session.get(_PENDING_LOGIN)
    user = None
    if pending and 0 <= time.time() - pending["at"] <= _PENDING_LOGIN_SECONDS:
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(_PENDING_LOGIN, None)
        request.session.pop(sessions.SESSION_PENDING, None)
        messages.warning(request, "Log in with your password first (a code is asked within 5 minutes of it).")
        return redirect("login")
    form = LoginCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            device = twofactor.verify_code(user=user, code=form.cleaned_data["code"], request=request, purpose="login")
        except PasswordLocked as exc:
            form.add_error(None, str(exc))
            response = render(request, "accounts/login_code.html", {"form": form}, status=exc.status)
            response["Retry-After"] = str(exc.retry_after)
            return response
        if device is not None:
            master_key = sessions.take_pending(request, user_id=user.pk)
            del request.session[_PENDING_LOGIN]
            login(request, user, backend=pending["backend"])
            django_otp.login(request, device)
            stepup.mark_recent_auth(request)
            if master_key is None:
                messages.warning(request, "Your password no longer opens your vault (was it reset?). Use your recovery key.")
                return redirect(f"{reverse('vault:unlock-vault')}?next={quote(pending['next'])}")
            unlocking.open_vault_session(request, master_key=master_key)
            return redirect(pending["next"])
        form.add_error("code", "That code is not right, or was already used. Codes change every 30 seconds.")
        status = 400
    return render(request, "accounts/login_code.html", {"form": form}, status=status)


@sensitive_post_parameters(stepup.PASSWORD_FIELD, stepup.CODE_FIELD)
@login_required
@never_cache
@require_POST
def confirm(request):
    """The step-up prompt of a page that was only opened (a GET): confirms and goes back to it."""
    next_url = safe_next(request, reverse("profile"))
    try:
        stepup.confirm(request, user=request.user, password=request.POST.get(stepup.PASSWORD_FIELD, ""),
                       code=request.POST.get(stepup.CODE_FIELD, ""))
    except PasswordLocked as exc:
        return stepup.prompt(request, error=str(exc), status=exc.status, next_url=next_url, retry_after=exc.retry_after)
    except WrongSecret as exc:
        return stepup.prompt(request, error=str(exc), next_url=next_url)
    return redirect(next_url)


class VaultPasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, applied with the vault's re-wrap in one transaction (see
    VaultPasswordChangeForm; nothing is re-encrypted) and revoking the user's API tokens. Other
    sessions end by themselves: Django ties sessions to the password hash, and
    update_session_auth_hash keeps only this one. The old password is the step-up."""

    form_class = VaultPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked is not None:  # locked out: refused before anything was checked or changed
            response.status_code = form.locked.status
            response["Retry-After"] = str(form.locked.retry_after)
        return response

    @method_decorator(sensitive_variables("master_key"))
    def form_valid(self, form):
        response = super().form_valid(form)
        master_key = form.master_key
        if master_key is not None:
            unlocking.open_vault_session(self.request, master_key=master_key)
        stepup.mark_recent_auth(self.request)
        revoke_all_api_tokens(user=form.user, request=self.request, reason="password changed")
        return response


def _profile_response(request, *, form=None, new_token=None, new_plaintext=None, status=200, storage_form=None):
    context = {
        "usage": jobs.usage(request.user),
        "storage_form": storage_form or StorageDefaultForm(initial={"storage_mode": preferences.storage_default(request.user)}),
        "tokens": api_tokens_for_user(user=request.user),
        "form": form or ApiTokenCreateForm(),
        "new_token": new_token,
        "new_plaintext": new_plaintext,
        "vault": keyring.vault_of(request.user),
        "unlocked": sessions.session_master_key(request) is not None,
        "shares": shares_for(request.user),
        "two_factor": twofactor.enabled(request.user),
        "events": security_events_for(user=request.user),
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET"])
def profile(request):
    return _profile_response(request)


@sensitive_post_parameters(stepup.PASSWORD_FIELD, stepup.CODE_FIELD)
@sensitive_variables("master_key", "plaintext")
@never_cache
@login_required
@require_POST
@stepup.require_recent_auth
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
def storage_default(request):
    """The storage mode new uploads start with (the upload page and the API's default)."""
    form = StorageDefaultForm(request.POST)
    if not form.is_valid():
        return _profile_response(request, storage_form=form, status=400)
    preferences.set_storage_default(request.user, form.cleaned_data["storage_mode"])
    chosen = "storage saver" if form.cleaned_data["storage_mode"] == "saver" else "keep the original"
    messages.success(request, f"New uploads now default to “{chosen}”.")
    return redirect(reverse("profile") + "#storage")


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

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        if form.new_recovery_key:
            # The new vault's recovery key: this response is the only place it ever appears.
            return recovery_key_page(self.request, recovery_key=form.new_recovery_key, next_url=reverse("login"))
        return response
