from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm, UserCreationForm
from django.views.decorators.debug import sensitive_variables

from accounts.models import ApiToken


class RegistrationForm(UserCreationForm):
    email = forms.EmailField(
        required=False,
        help_text="Optional. Needed only if you want to be able to reset a forgotten password.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="A label so you can recognise this token later, e.g. “laptop script”.",
    )

    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ_WRITE,
        required=False,
        help_text="A read-only token can list and download images, never upload or delete.",
    )

    def clean_scope(self):
        return self.cleaned_data.get("scope") or ApiToken.Scope.READ_WRITE

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name


class VaultPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked against the login's budget of
    guesses (`vault.attempts`) and the change applied by `keyring.change_password`: the new
    password and the vault's re-wrap in one transaction, both or neither."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request
        self.locked = None  # the PasswordLocked refusal, for the view's status and Retry-After
        self.master_key = None

    @sensitive_variables("old_password")
    def clean_old_password(self):
        from vault import keyring
        from vault.errors import PasswordLocked, WrongSecret

        old_password = self.cleaned_data["old_password"]
        try:
            keyring.check_account_password(user=self.user, password=old_password, request=self.request, purpose="password change")
        except PasswordLocked as exc:
            self.locked = exc
            raise forms.ValidationError(str(exc), code="locked") from None
        except WrongSecret:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect") from None
        return old_password

    @sensitive_variables("session_key")
    def save(self, commit=True):
        from vault import keyring, sessions

        session_key = sessions.session_master_key(self.request) if self.request is not None else None
        self.master_key = keyring.change_password(
            user=self.user, old_password=self.cleaned_data["old_password"], new_password=self.cleaned_data["new_password1"],
            request=self.request, session_master_key=session_key,
        )
        return self.user

    def __repr__(self) -> str:  # never print the master key held after save()
        return f"<VaultPasswordChangeForm bound={self.is_bound}>"


class VaultSetPasswordForm(SetPasswordForm):
    """The e-mail reset's new-password form. A reset cannot open the vault (its key is wrapped under
    the forgotten password), so it asks for the recovery key to re-wrap it under the new password;
    without one the person must confirm, before anything changes, that a new empty vault replaces it."""

    recovery_key = forms.CharField(
        label="Recovery key", required=False, max_length=200,
        help_text="The key you saved when you registered. With it, all your images stay readable.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    start_new_vault = forms.BooleanField(
        label="I have no recovery key. Start a new, empty vault: my existing images can never be opened again.",
        required=False,
    )

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.master_key = None
        self.new_recovery_key = None

    @sensitive_variables("master_key")
    def clean(self):
        from vault import keyring
        from vault.errors import PasswordLocked, WrongSecret

        cleaned = super().clean()
        if keyring.vault_of(self.user) is None:
            return cleaned  # no vault yet: the first login makes one
        if cleaned.get("recovery_key"):
            try:
                self.master_key = keyring.unlock_with_recovery_key(
                    user=self.user, recovery_key=cleaned["recovery_key"], request=self.request,
                )
            except (WrongSecret, PasswordLocked) as exc:
                self.add_error("recovery_key", str(exc))
        elif not cleaned.get("start_new_vault"):
            raise forms.ValidationError(
                "Enter your recovery key to keep your images, or tick the box to start a new, empty vault "
                "(your existing images can then never be opened again)."
            )
        return cleaned

    @sensitive_variables("password")
    def save(self, commit=True):
        from django.db import transaction

        from vault import keyring

        password = self.cleaned_data["new_password1"]
        if self.master_key is not None:
            # The new password and the vault's wrap under it: both or neither.
            keyring.set_password_and_rewrap(
                user=self.user, password=password, master_key=self.master_key, request=self.request,
                why="Password reset with the recovery key",
            )
        elif keyring.vault_of(self.user) is not None:
            with transaction.atomic():  # a new vault that the new password opens, or nothing
                super().save(commit=commit)
                _, self.new_recovery_key = keyring.create_vault(user=self.user, password=password, request=self.request)
        else:
            super().save(commit=commit)
        return self.user

    def __repr__(self) -> str:  # never print the master key held between clean() and save()
        return f"<VaultSetPasswordForm bound={self.is_bound}>"


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Entered again, so a browser left logged in cannot delete the account.",
    )
    confirm = forms.BooleanField(
        label="Delete my account, every image, share and API token, for good. This cannot be undone.",
    )


class LoginCodeForm(forms.Form):
    """The login's second step (and the two-factor page's confirmation)."""

    code = forms.CharField(
        label="Code", max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false", "class": "mono", "autofocus": True}),
    )


class StorageDefaultForm(forms.Form):
    storage_mode = forms.ChoiceField(
        label="New uploads",
        choices=[
            ("original", "Keep the original (stored losslessly in fewer bytes where possible)"),
            ("saver", "Storage saver: keep only the compressed version, delete the original"),
        ],
        widget=forms.RadioSelect,
        help_text="The upload page starts with this choice; each upload can still choose the other.",
    )
