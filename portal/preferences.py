"""A person's preferences (accounts.models.Preferences) as the vault's pages and API use them.

It sits above both apps, like `portal.stepup`: the vault never imports accounts, so its upload
page and API ask here for the storage mode an upload gets when it names none."""
from __future__ import annotations

from accounts.models import Preferences

DEFAULT_STORAGE = Preferences.StorageMode.ORIGINAL


def storage_default(user) -> str:
    """`original` or `saver`: what the person chose on their profile (original until they do)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return DEFAULT_STORAGE
    mode = Preferences.objects.filter(user=user).values_list("storage_mode", flat=True).first()
    return mode or DEFAULT_STORAGE


def set_storage_default(user, mode: str) -> None:
    Preferences.objects.update_or_create(user=user, defaults={"storage_mode": mode})
