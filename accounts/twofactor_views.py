"""The two-factor settings page: set up an authenticator (QR code, then a code to confirm it),
recovery codes shown once, new recovery codes, turning it off. Every change needs a recent
password entry (step-up): a stolen session must not swap the second factor for its own."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

import django_otp
from accounts import twofactor
from portal import stepup
from accounts.forms import LoginCodeForm
from vault.errors import PasswordLocked

_SECRET_FIELDS = ("code", stepup.PASSWORD_FIELD, stepup.CODE_FIELD)


@login_required
@never_cache
@require_GET
def two_factor(request):
    return render(request, "accounts/two_factor.html", {
        "enabled": twofactor.enabled(request.user), "codes_left": twofactor.recovery_codes_left(request.user),
    })


def _setup_page(request, device, form, status=200):
    response = render(request, "accounts/two_factor_setup.html", {
        "device": device, "qr": twofactor.qr_svg(device), "secret": twofactor.secret_text(device), "form": form,
    }, status=status)
    response["Cache-Control"] = "no-store"  # the page carries the new secret
    return response


def _codes_page(request, codes):
    response = render(request, "accounts/recovery_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters(*_SECRET_FIELDS)
@login_required
@never_cache
@require_POST
@stepup.require_recent_auth
def setup(request):
    return _setup_page(request, twofactor.start_enrolment(request.user), LoginCodeForm())


@sensitive_post_parameters(*_SECRET_FIELDS)
@sensitive_variables("codes")
@login_required
@never_cache
@require_POST
@stepup.require_recent_auth
def confirm_setup(request):
    device = twofactor.pending_device(request.user, request.POST.get("device"))
    if device is None:
        messages.error(request, "That setup expired or was replaced. Start again.")
        return redirect("two-factor")
    form = LoginCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = twofactor.confirm_enrolment(user=request.user, device=device, code=form.cleaned_data["code"], request=request)
        except PasswordLocked as exc:
            form.add_error(None, str(exc))
            return _setup_page(request, device, form, status=exc.status)
        if codes is not None:
            django_otp.login(request, device)  # this session has just shown the second factor
            return _codes_page(request, codes)
        form.add_error("code", "That code is not right. Check the time on your phone and type the code shown now.")
    return _setup_page(request, device, form, status=400)


@sensitive_post_parameters(*_SECRET_FIELDS)
@sensitive_variables("codes")
@login_required
@never_cache
@require_POST
@stepup.require_recent_auth
def new_recovery_codes(request):
    if not twofactor.enabled(request.user):
        return redirect("two-factor")
    return _codes_page(request, twofactor.regenerate_recovery_codes(user=request.user, request=request))


@sensitive_post_parameters(*_SECRET_FIELDS)
@login_required
@never_cache
@require_POST
@stepup.require_recent_auth
def disable(request):
    if request.user.is_staff:
        messages.error(request, "Staff accounts must keep two-factor authentication. Set up a new authenticator to replace this one.")
        return redirect("two-factor")
    twofactor.disable(user=request.user, request=request)
    messages.success(request, "Two-factor authentication is off. Logging in asks only for your password now.")
    return redirect("two-factor")
