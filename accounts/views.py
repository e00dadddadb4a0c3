"""Thin page views for accounts; logic lives in services.py, reads in selectors.py."""
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import ApiTokenCreateForm, RegistrationForm
from accounts.selectors import api_tokens_for_user
from accounts.services import create_api_token, revoke_api_token

# Registration logs the user in directly; axes only watches authenticate(), so name the real backend.
_LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("vault:gallery")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend=_LOGIN_BACKEND)
        messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
        return redirect("vault:gallery")
    return render(request, "accounts/register.html", {"form": form})


def _profile_response(request, *, form=None, new_token=None, new_plaintext=None, status=200):
    context = {
        "tokens": api_tokens_for_user(user=request.user),
        "form": form or ApiTokenCreateForm(),
        "new_token": new_token,
        "new_plaintext": new_plaintext,
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET"])
def profile(request):
    return _profile_response(request)


@never_cache
@login_required
@require_POST
def token_create(request):
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _profile_response(request, form=form)
    try:
        token, plaintext = create_api_token(
            user=request.user, name=form.cleaned_data["name"], scope=form.cleaned_data["scope"], request=request
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
