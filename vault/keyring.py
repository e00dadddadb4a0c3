"""Each user's vault: the master key (MK), its wraps under the password and the recovery key, and
unlocking it with either.

MK exists in the clear only in memory while a request uses it. At rest it is only ever wrapped
(see `vault.crypto`): under the Argon2id key of the login password, under the recovery key, and
under each API token's secret; between requests a browser session holds it sealed under a cookie's
secret (`vault.sessions`).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import attempts, crypto
from vault.errors import VaultLocked, WrongSecret
from vault.models import UserVault


def kdf_params() -> crypto.KdfParams:
    return crypto.KdfParams(
        time_cost=settings.VAULT_ARGON2_TIME_COST,
        memory_kib=settings.VAULT_ARGON2_MEMORY_KIB,
        parallelism=settings.VAULT_ARGON2_PARALLELISM,
    )


def _params_of(vault: UserVault) -> crypto.KdfParams:
    return crypto.KdfParams(vault.kdf_time_cost, vault.kdf_memory_kib, vault.kdf_parallelism)


def vault_of(user) -> UserVault | None:
    return UserVault.objects.filter(user_id=user.pk).first() if user is not None and user.pk else None


# --- wraps ------------------------------------------------------------------------------------


@sensitive_variables("password", "master_key", "pkey")
def _set_password_wrap(vault: UserVault, *, master_key: bytes, password: str) -> None:
    params = kdf_params()
    vault.kdf_salt = crypto.new_kdf_salt()  # a fresh salt per wrap: old and new keys are unrelated
    vault.kdf_time_cost, vault.kdf_memory_kib, vault.kdf_parallelism = params.time_cost, params.memory_kib, params.parallelism
    pkey = crypto.password_key(password, salt=vault.kdf_salt, params=params)
    vault.password_wrap = crypto.wrap_key(master_key, wrapping_key=pkey, purpose="mk-password", ids=(vault.user_id, vault.epoch))


@sensitive_variables("master_key", "secret")
def _set_recovery_wrap(vault: UserVault, *, master_key: bytes) -> str:
    secret = crypto.new_retrieval_key()
    vault.recovery_key_saved_at = None  # a new key: the profile asks again until its owner says it is saved
    vault.recovery_wrap = crypto.wrap_key(
        master_key, wrapping_key=crypto.subkey(secret, purpose="recovery-wrap-v1"), purpose="mk-recovery",
        ids=(vault.user_id, vault.epoch),
    )
    return crypto.format_retrieval_key(secret)


@sensitive_variables("password", "master_key")
@transaction.atomic
def create_vault(*, user, password: str, request=None) -> tuple[bytes, str]:
    """A new vault for `user`: returns MK (for the session) and the recovery key text, which is
    shown once and stored nowhere. Replaces a vault whose keys were lost (a new epoch)."""
    previous = UserVault.objects.select_for_update().filter(user_id=user.pk).first()
    vault = UserVault(user=user, epoch=(previous.epoch + 1) if previous else 1, created=timezone.now())
    master_key = crypto.new_master_key()
    _set_password_wrap(vault, master_key=master_key, password=password)
    recovery = _set_recovery_wrap(vault, master_key=master_key)
    vault.key_check = key_check_value(master_key)
    vault.updated = timezone.now()
    vault.save()
    detail = "New vault created." if previous is None else (
        f"New vault (epoch {vault.epoch}) started without the old keys; older images stay locked."
    )
    record_event(action=AuditEvent.Action.VAULT_CREATED, request=request, user=user, detail=detail)
    return master_key, recovery


@sensitive_variables("password")
def check_account_password(*, user, password: str, request=None, purpose: str = "vault unlock") -> None:
    """WrongSecret unless `password` is the account's. Counted against the login's budget of
    guesses (`vault.attempts`): vault pages are reachable by anyone holding a stolen session cookie,
    so they must not be a second, unlimited password oracle. `PasswordLocked` while locked out."""
    attempts.check_password(user=user, password=password, request=request, purpose=purpose)


@sensitive_variables("password", "pkey")
def _unwrap_with_password(vault: UserVault, password: str) -> bytes:
    """MK from the password wrap (`SealError` when this password does not open it)."""
    pkey = crypto.password_key(password, salt=bytes(vault.kdf_salt), params=_params_of(vault))
    return crypto.unwrap_key(vault.password_wrap, wrapping_key=pkey, purpose="mk-password", ids=(vault.user_id, vault.epoch))


@sensitive_variables("password")
def unlock_with_password(*, user, password: str, request=None) -> bytes:
    """MK from the login password, checked as the account's first (see check_account_password)."""
    vault = vault_of(user)
    if vault is None:
        raise WrongSecret("You have no vault yet.")
    check_account_password(user=user, password=password, request=request)
    try:
        return _unwrap_with_password(vault, password)
    except crypto.SealError:
        # The password is the account's but not the vault's: it was reset or set by an admin.
        raise WrongSecret(
            "Your password was changed outside the portal (a reset or an administrator), so it no "
            "longer opens your vault. Enter your recovery key to reopen it."
        ) from None


@sensitive_variables("recovery_key", "secret")
def unlock_with_recovery_key(*, user, recovery_key: str, request=None) -> bytes:
    """MK from the recovery key. A wrong key spends the same budget as a wrong password (a 256-bit
    key cannot be guessed, but the reset form must not be the one unlimited check)."""
    vault = vault_of(user)
    try:
        secret = crypto.parse_retrieval_key(recovery_key)
    except crypto.MalformedKey as exc:
        raise WrongSecret(str(exc).replace("retrieval key", "recovery key")) from None
    if vault is None:
        raise WrongSecret("You have no vault yet.")
    attempts.refuse_if_locked(request, user=user)
    try:
        return crypto.unwrap_key(
            vault.recovery_wrap, wrapping_key=crypto.subkey(secret, purpose="recovery-wrap-v1"),
            purpose="mk-recovery", ids=(user.pk, vault.epoch),
        )
    except crypto.SealError:
        attempts.count_failure(request, user=user, purpose="recovery key")
        raise WrongSecret("That recovery key does not open your vault.") from None


@sensitive_variables("password", "master_key")
@transaction.atomic
def rewrap_password(*, user, master_key: bytes, password: str, request=None, why: str = "Password changed") -> None:
    """Wrap MK under a new password. Nothing is re-encrypted: images are sealed under their data
    keys, which are wrapped under MK, which does not change."""
    vault = UserVault.objects.select_for_update().get(user_id=user.pk)
    _set_password_wrap(vault, master_key=master_key, password=password)
    vault.updated = timezone.now()
    vault.save()
    record_event(action=AuditEvent.Action.VAULT_REWRAPPED, request=request, user=user, detail=f"{why}: vault re-wrapped.")


@sensitive_variables("password", "master_key", "staged")
def set_password_and_rewrap(*, user, password: str, master_key: bytes | None, request=None, why: str) -> None:
    """The account's new password and MK's wrap under it, in one transaction that writes both or
    neither: a password that no longer opens the vault would leave only the recovery key.

    The slow work (Django's password hash, Argon2id for the wrap) happens before the transaction,
    on a copy of the vault row; the transaction only checks that nobody re-wrapped the vault in the
    meantime and saves both rows. Without `master_key` (a vault the old password no longer opened,
    or none yet) only the password changes, as before."""
    user.set_password(password)
    staged = vault_of(user) if master_key is not None else None
    if staged is not None:
        check_master_key(vault=staged, master_key=master_key)
        before = bytes(staged.password_wrap)
        _set_password_wrap(staged, master_key=master_key, password=password)
    with transaction.atomic():
        if staged is not None:
            current = UserVault.objects.select_for_update().get(user_id=user.pk)
            if bytes(current.password_wrap) != before or current.epoch != staged.epoch:
                raise VaultLocked("Your vault's keys changed in another session just now. Nothing was changed; try again.")
        user.save()
        if staged is not None:
            staged.updated = timezone.now()
            staged.save(update_fields=["kdf_salt", "kdf_time_cost", "kdf_memory_kib", "kdf_parallelism", "password_wrap", "updated"])
            record_event(action=AuditEvent.Action.VAULT_REWRAPPED, request=request, user=user, detail=f"{why}: vault re-wrapped.")


@sensitive_variables("old_password", "new_password", "master_key", "session_master_key")
def change_password(*, user, old_password: str, new_password: str, request=None, session_master_key: bytes | None = None) -> bytes | None:
    """Verify the old password and set the new one with MK re-wrapped under it (see
    `set_password_and_rewrap`): both or neither, whatever the login lockout does, because nothing
    here goes through `authenticate()`. The caller has already checked the old password through
    `check_account_password` (which counts guesses); it is checked again here because this is the
    function that acts on it. Returns MK, or None when neither the old password nor the session's
    key opens the vault (its password was set outside the portal: the recovery key reopens it)."""
    if not user.check_password(old_password):
        raise WrongSecret("That password is not right.")
    vault = vault_of(user)
    master_key = None
    if vault is not None:
        try:
            master_key = _unwrap_with_password(vault, old_password)
        except crypto.SealError:
            # The password was reset outside the portal, but this session may still hold MK.
            if session_master_key is not None and crypto.digests_match(vault.key_check, key_check_value(session_master_key)):
                master_key = session_master_key
    set_password_and_rewrap(user=user, password=new_password, master_key=master_key, request=request, why="Password changed")
    return master_key


@sensitive_variables("master_key")
@transaction.atomic
def regenerate_recovery_key(*, user, master_key: bytes, request=None) -> str:
    """A new recovery key; the old one stops working (its wrap is overwritten)."""
    vault = UserVault.objects.select_for_update().get(user_id=user.pk)
    # Prove the caller's MK is this vault's before replacing the recovery wrap around it.
    check_master_key(vault=vault, master_key=master_key)
    recovery = _set_recovery_wrap(vault, master_key=master_key)
    vault.updated = timezone.now()
    vault.save()
    record_event(action=AuditEvent.Action.VAULT_REWRAPPED, request=request, user=user, detail="Recovery key regenerated.")
    return recovery


def key_check_value(master_key: bytes) -> str:
    """A one-way fingerprint of MK (HKDF output, a PRF of a 256-bit random key: it reveals nothing
    about MK and cannot be brute-forced), so the server can tell which vault an MK belongs to."""
    return crypto.subkey(master_key, purpose="mk-check-v1")[:16].hex()


@sensitive_variables("master_key")
def check_master_key(*, vault: UserVault, master_key: bytes) -> None:
    """VaultLocked unless `master_key` is this vault's current one (e.g. a session still holding
    the MK of a vault that another session has since replaced)."""
    if not crypto.digests_match(vault.key_check, key_check_value(master_key)):
        raise VaultLocked("Your vault was replaced in another session. Log in again.")


@dataclass
class LoginOutcome:
    master_key: bytes | None = None  # None: the password opened the account but not the vault
    recovery_key: str | None = None  # a vault was just created: show this once

    def __repr__(self) -> str:  # never print MK, even in a debugger or an error report
        return f"LoginOutcome(unlocked={self.master_key is not None}, new_vault={self.recovery_key is not None})"


@sensitive_variables("password")
def open_or_create_vault(*, user, password: str, request=None) -> LoginOutcome:
    """After a successful login (page or API token grant), with the password just checked. Users
    made outside the registration page (createsuperuser, the admin, a shell) get their vault here,
    at their first login."""
    vault = vault_of(user)
    if vault is None:
        master_key, recovery = create_vault(user=user, password=password, request=request)
        return LoginOutcome(master_key=master_key, recovery_key=recovery)
    try:
        return LoginOutcome(master_key=_unwrap_with_password(vault, password))
    except crypto.SealError:
        return LoginOutcome()


def mark_recovery_key_saved(*, user) -> None:
    """The owner ticked "I have saved my recovery key" (the key itself is gone by then)."""
    UserVault.objects.filter(user_id=user.pk).update(recovery_key_saved_at=timezone.now())
