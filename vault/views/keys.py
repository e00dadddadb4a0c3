"""The vault's key pages: unlock a locked vault (password or recovery key, or start a new vault),
lock it, and make or acknowledge a recovery key. `recovery_key_page` is the one page that shows a
recovery key, here and in the account pages (registration, first login, password reset)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from portal import stepup
from audit.events import record_event
from audit.models import AuditEvent
from audit.notify import notify_user
from vault import keyring, sessions, unlocking
from vault.errors import PasswordLocked, WrongSecret
from vault.forms import NewVaultForm, RecoveryKeyRegenerateForm, RecoveryUnlockForm, VaultUnlockForm
from vault.views.common import render_refused, safe_next


@sensitive_post_parameters()
@sensitive_variables("master_key", "recovery")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_vault(request):
    """Unlock a locked vault with the account password (not a new login), or with the recovery key
    after the password was reset, or, with neither, start a new vault."""
    next_url = safe_next(request, reverse("vault:gallery"))
    password_form = VaultUnlockForm(request.POST if request.POST.get("method") == "password" else None)
    recovery_form = RecoveryUnlockForm(request.POST if request.POST.get("method") == "recovery" else None, prefix="recovery")
    new_form = NewVaultForm(request.POST if request.POST.get("method") == "new" else None, prefix="new")
    context = {"password_form": password_form, "recovery_form": recovery_form, "new_form": new_form, "next": next_url}
    if request.method == "GET":
        return render(request, "vault/unlock_vault.html", context)
    try:
        if password_form.is_bound and password_form.is_valid():
            master_key = keyring.unlock_with_password(user=request.user, password=password_form.cleaned_data["password"], request=request)
        elif recovery_form.is_bound and recovery_form.is_valid():
            # The password must be the account's: it is what the vault gets re-wrapped under.
            keyring.check_account_password(user=request.user, password=recovery_form.cleaned_data["password"], request=request)
            master_key = keyring.unlock_with_recovery_key(
                user=request.user, recovery_key=recovery_form.cleaned_data["recovery_key"], request=request,
            )
            # The recovery key proved ownership; wrap MK under the current password again so the
            # next login unlocks by itself (this is how a reset password gets the vault back).
            keyring.rewrap_password(user=request.user, master_key=master_key, password=recovery_form.cleaned_data["password"],
                                    request=request, why="Reopened with the recovery key")
        elif new_form.is_bound and new_form.is_valid():
            keyring.check_account_password(user=request.user, password=new_form.cleaned_data["password"], request=request)
            master_key, recovery = keyring.create_vault(user=request.user, password=new_form.cleaned_data["password"], request=request)
            unlocking.open_vault_session(request, master_key=master_key)
            return recovery_key_page(request, recovery_key=recovery, next_url=next_url)
        else:
            return render(request, "vault/unlock_vault.html", context, status=400)
    except (WrongSecret, PasswordLocked) as exc:
        form = recovery_form if recovery_form.is_bound else (new_form if new_form.is_bound else password_form)
        return render_refused(request, "vault/unlock_vault.html", context, exc, form=form)
    unlocking.open_vault_session(request, master_key=master_key)
    record_vault_event(request, unlocked=True)
    return redirect(next_url)


def recovery_key_page(request, *, recovery_key: str, next_url: str, first_login: bool = False, regenerated: bool = False):
    """The one page that ever shows a recovery key: rendered straight from the POST that created
    it, never stored (not even in the session), never cached."""
    context = {"recovery_key": recovery_key, "next": next_url, "first_login": first_login, "regenerated": regenerated}
    response = render(request, "accounts/recovery_key.html", context)
    response["Cache-Control"] = "no-store"
    return response


def record_vault_event(request, *, unlocked: bool) -> None:
    action = AuditEvent.Action.VAULT_UNLOCKED if unlocked else AuditEvent.Action.VAULT_LOCKED
    record_event(action=action, request=request, detail="Vault unlocked." if unlocked else "Vault locked.")


@login_required
@require_POST
def lock_vault(request):
    sessions.lock_session(request)
    record_vault_event(request, unlocked=False)
    messages.success(request, "Your vault is locked. Your password unlocks it again.")
    return redirect("vault:landing")


@sensitive_post_parameters()
@sensitive_variables("master_key", "recovery", "password")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def regenerate_recovery_key(request):
    """A confirmation page first: the old key stops working at once, so the person ticks that they
    understand and types their password, every time (not only outside the step-up window): a copied
    session must not swap the owner's recovery key for one it knows, and a stray click must not
    throw away the key they saved."""
    form = RecoveryKeyRegenerateForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return render(request, "vault/recovery_key_new.html", {"form": form}, status=200 if request.method == "GET" else 400)
    master_key = sessions.master_key_for(request)
    try:
        stepup.confirm(request, user=request.user, password=form.cleaned_data["password"])
    except (WrongSecret, PasswordLocked) as exc:
        return render_refused(request, "vault/recovery_key_new.html", {"form": form}, exc, form=form)
    recovery = keyring.regenerate_recovery_key(user=request.user, master_key=master_key, request=request)
    notify_user(request.user, subject="Your recovery key was replaced",
                body="A new recovery key was made for your vault; the previous one no longer works. If this was not you, "
                     "change your password now and make a new recovery key.")
    return recovery_key_page(request, recovery_key=recovery, next_url=reverse("profile"), regenerated=True)


@require_POST
def recovery_key_saved(request):
    """The "I have saved it" step after a recovery key was shown. The key itself is gone by now;
    until this is ticked the profile keeps reminding."""
    if request.POST.get("saved") != "on":
        messages.warning(request, "You did not confirm saving your recovery key. Your profile reminds you until you do; "
                                  "if you did not save it, make a new one there.")
    elif request.user.is_authenticated:
        keyring.mark_recovery_key_saved(user=request.user)
    return redirect(safe_next(request, reverse("vault:gallery")))
