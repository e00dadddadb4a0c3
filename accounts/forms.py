from django import forms
from django.contrib.auth.forms import SetPasswordForm, UserCreationForm
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.master_key = None
        self.new_recovery_key = None

    @sensitive_variables("master_key")
    def clean(self):
        from vault import keyring

        cleaned = super().clean()
        if keyring.vault_of(self.user) is None:
            return cleaned  # no vault yet: the first login makes one
        if cleaned.get("recovery_key"):
            try:
                self.master_key = keyring.unlock_with_recovery_key(user=self.user, recovery_key=cleaned["recovery_key"])
            except keyring.WrongSecret as exc:
                self.add_error("recovery_key", str(exc))
        elif not cleaned.get("start_new_vault"):
            raise forms.ValidationError(
                "Enter your recovery key to keep your images, or tick the box to start a new, empty vault "
                "(your existing images can then never be opened again)."
            )
        return cleaned

    @sensitive_variables("password")
    def save(self, commit=True):
        from vault import keyring

        user = super().save(commit=commit)
        password = self.cleaned_data["new_password1"]
        if self.master_key is not None:
            keyring.rewrap_password(user=user, master_key=self.master_key, password=password, why="Password reset with the recovery key")
        elif keyring.vault_of(user) is not None:
            _, self.new_recovery_key = keyring.create_vault(user=user, password=password)
        return user

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
