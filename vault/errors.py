"""Every domain exception of the vault, each with the HTTP status it maps to.

The bottom of the vault's import order: this module imports nothing from the project, so any
module may raise these and one handler (`portal.api.exception_handler` for the API, the page
mapping for the pages) turns them into responses. `status` is the HTTP status; `retry_after`
(seconds) where the client should wait before trying again.
"""
from __future__ import annotations

import errno
import math

GENERIC_REFUSAL = "That key does not open this image."
SHARE_UNAVAILABLE = "This share link does not exist, was revoked or has expired."


class VaultError(Exception):
    """Base of the vault's domain exceptions; `status` is the HTTP status a handler answers."""

    status = 400
    retry_after: int | None = None


class RetrievalRefused(VaultError):
    """Wrong key, tampered blob or missing blob: deliberately indistinguishable to the caller."""

    status = 403

    def __init__(self) -> None:
        super().__init__(GENERIC_REFUSAL)


class RetrievalLocked(VaultError):
    """Too many wrong keys; retrieval is refused until the cool-off ends."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        minutes = math.ceil(self.retry_after / 60)
        super().__init__(
            f"Too many wrong keys. Retrieval is locked; try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )


class RecordLocked(VaultError):
    """A record this master key cannot open: stored with its own retrieval key, or in a vault the
    owner replaced after losing both password and recovery key."""

    status = 409


class ShareUnavailable(VaultError):
    """Unknown, revoked and expired shares look the same to whoever holds the link."""

    status = 404

    def __init__(self) -> None:
        super().__init__(SHARE_UNAVAILABLE)


class VaultLocked(VaultError):
    """The request needs the vault but holds no master key (locked, idle, or never unlocked)."""

    status = 403

    def __init__(self, message: str = "Your vault is locked. Enter your password to unlock it.") -> None:
        super().__init__(message)


class WrongSecret(VaultError):
    """A password or recovery key that does not open the vault."""

    status = 403


class PasswordLocked(VaultError):
    """Too many wrong passwords (or second-factor codes) from this client for this account: the
    attempt is refused before anything is checked or changed (`vault.attempts`)."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        minutes = math.ceil(self.retry_after / 60)
        super().__init__(
            "Too many wrong passwords: password checks for this account are locked from this address. "
            f"Nothing was changed. Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        )


class BlobUnavailable(VaultError):
    """The owner's image opened (its data key unwrapped) but a stored file is damaged or missing:
    no key was typed, so no "wrong key" refusal fits. 410: that stored file is gone for good."""

    status = 410

    def __init__(self, variant: str) -> None:
        self.variant = variant
        super().__init__(
            f"This image's stored {variant} file is damaged or missing; its other versions may still open."
        )


class JobCancelled(VaultError):
    """The owner cancelled the job, or another message now owns it: stop working on it. Internal
    to the worker; never reaches a client."""

    status = 409


class JobConflict(VaultError):
    """The action does not fit the job's state (e.g. cancelling a finished job)."""

    status = 409


class NotCompressedYet(JobConflict):
    """The compressed file or thumbnail of an image whose first job has not finished."""


class DuplicateImage(VaultError):
    """The owner already stored these exact bytes. `fields` goes into the API's error body, so a
    script can use the existing image (or send again with allow_duplicate=true)."""

    status = 409

    def __init__(self, *, filename: str, existing_id: int, existing_name: str, in_trash: bool) -> None:
        where = "in your trash" if in_trash else "in your vault"
        super().__init__(
            f"'{filename}' is already {where} as '{existing_name}' (image {existing_id}). "
            "Use that one, or upload it again allowing a duplicate to keep both."
        )
        self.existing_id, self.existing_name, self.in_trash = existing_id, existing_name, in_trash
        self.fields = {"existing_id": existing_id, "existing_in_trash": in_trash}


class DisplayNotReady(JobConflict):
    """An original no browser draws whose viewable copy (vault/display.py) the worker has not made
    yet: its job is waiting, or it was stored before such copies were made."""


class JobLimit(VaultError):
    """A per-user bound was reached: 429 (too many jobs at once, retry later) or 413 (over quota)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = 60 if status == 429 else None


class SweepRefused(VaultError):
    """The sweep will not delete anything: the storage or the database is not what it expects.
    Raised to an operator's command, never to a web client."""

    status = 409


class OriginalNotDisplayable(VaultError):
    """The stored original opened but cannot be decoded for a browser (truncated, corrupt): it can
    still be downloaded as it is. 422: the request was fine, the stored file is what fails."""

    status = 422

    def __init__(self, reason: str) -> None:
        super().__init__(f"This image's original cannot be shown: {reason} Download it instead.")


class LocationNotRemovable(VaultError):
    """A share without the location asked for an original whose GPS position or place names sit
    where they cannot be removed without re-encoding the picture: nothing is served."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "The original file of this image holds its location in a form that cannot be removed without "
            "changing the picture, and this share does not include the location. Open the compressed version "
            "instead, or ask the owner for a share that includes the location."
        )


class OriginalNotKept(VaultError):
    """The image was stored in storage-saver mode: its original was deleted once the compressed
    version was stored and verified. 410: it is gone for good, by the owner's choice."""

    status = 410

    def __init__(self, name: str = "") -> None:
        which = f"'{name}'" if name else "this image"
        super().__init__(
            f"The original of {which} was not kept: it was stored in storage-saver mode, which keeps only "
            "the compressed version. Download the compressed version instead."
        )
class UploadIncomplete(VaultError):
    """A record whose original never arrived (the uploading process died between inserting the
    row and writing the file), or a retry that sent another file under the first one's key. 409:
    sending the file again is what completes it."""

    status = 409


class StorageFull(VaultError):
    """Storage refused a write (full disk, quota, I/O error): nothing partial was kept and nothing
    was recorded. 507 Insufficient Storage. Deleting images still works and frees space."""

    status = 507

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(
            "The server's storage is full or refused the write"
            + (f" ({reason})" if reason else "")
            + ": nothing was saved. Try again later; deleting images you no longer need frees space "
            "and works meanwhile. If it keeps happening, tell the site's operator."
        )

    @classmethod
    def from_database_error(cls, exc: Exception) -> "StorageFull | None":
        """The refusal for a database write that failed for want of space (SQLite's "database or
        disk is full", PostgreSQL's SQLSTATE 53100 disk_full), else None."""
        cause = exc.__cause__ or exc
        if "disk is full" in str(exc) or getattr(cause, "sqlstate", None) == "53100":
            return cls("the database has no space left")
        return None

    @classmethod
    def from_os_error(cls, exc: OSError) -> "StorageFull":
        # errno's name (ENOSPC, EDQUOT) says which limit without the file's path, which names a record.
        name = errno.errorcode.get(exc.errno or 0, "")
        text = exc.strerror or type(exc).__name__
        return cls(f"{name}: {text}" if name else text)
