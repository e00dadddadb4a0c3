from django import forms
from django.contrib.auth.forms import UserCreationForm

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
