"""The admin site, for staff who passed the second factor. Staff accounts can read every user's
metadata and the whole audit log and revoke anyone's tokens, so a password alone is not enough:
a staff session that did not verify a code (or a staff account without an authenticator yet) is
sent to the login, or to set one up, instead of the admin."""
from urllib.parse import quote

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse


class TwoFactorAdminSite(admin.AdminSite):
    def has_permission(self, request):
        verified = getattr(request.user, "is_verified", None)
        return super().has_permission(request) and callable(verified) and verified()

    def login(self, request, extra_context=None):
        # The portal's own login (password, second factor, vault), never the admin's bare form.
        next_url = request.GET.get("next") or reverse("admin:index")
        if request.user.is_authenticated and request.user.is_active and request.user.is_staff:
            from accounts import twofactor

            if not twofactor.enabled(request.user):
                messages.warning(request, "Staff accounts need two-factor authentication. Set it up to use the admin.")
                return redirect("two-factor")
            # A session that logged in before its authenticator was set up elsewhere.
            messages.warning(request, "This session did not pass two-factor authentication: log out and log in again with your code to use the admin.")
            return redirect("profile")
        return redirect(f"{reverse('login')}?next={quote(next_url)}")
