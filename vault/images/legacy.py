"""Records stored before the per-user vault: each opens only with its own retrieval key (data key
under RFC 3394 key wrap, a Django password hash of the key, a plain SHA-256 of the original), under
the wrong-key lockout, until its owner adds it to the vault."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import InvalidImage
from vault import blobs, crypto, display, figures, keyring
from vault.decoding import decode_original
from vault.errors import RetrievalLocked, VaultLocked
from vault.images import lockout
from vault.images.shares import new_share
from vault.models import ImageRecord, Share, UserVault
from vault.thumbnails import make_thumbnail


@sensitive_variables("key", "secret", "data_key", "plaintext")
def _legacy_open(*, record: ImageRecord, key: str, variants, request=None) -> tuple[bytes, bytes, dict[str, bytes]]:
    """A record from before the vault, opened with its retrieval key: (key secret, data key, the
    requested variants' plaintext), after the lockout and key checks."""
    variants = list(variants)
    for variant in variants:
        if variant not in blobs.LEGACY_VARIANTS:
            raise ValidationError(
                f"Unknown variant {variant!r}; choose 'original' or 'compressed'.", code="variant"
            )
    label = "+".join(variants)
    secret = lockout.parse_key(key)

    record.refresh_from_db(fields=["locked_until", "failed_attempts", "last_failed_at"])
    remaining = lockout.record_lock_remaining(record, timezone.now())
    if remaining:
        # Checked before the key: while locked, even the right key is refused, or the lock
        # would still let an attacker learn which guess was right.
        record_event(
            action=AuditEvent.Action.RETRIEVE_REFUSED,
            request=request,
            user=record.owner,
            record=record,
            detail=f"{label}: locked out after repeated wrong keys",
        )
        raise RetrievalLocked(remaining)

    def rehash(_raw):
        # Upgrades the stored hash when the preferred hasher changes (e.g. new Argon2 costs).
        ImageRecord.objects.filter(pk=record.pk).update(key_hash=crypto.hash_retrieval_key(secret))

    if not crypto.check_retrieval_key(secret, record.key_hash, setter=rehash):
        raise lockout.refuse(record=record, request=request, why=f"{label}: wrong key")
    try:
        data_key = crypto.unwrap_data_key(
            record.wrapped_key, secret=secret, salt=record.wrap_salt, record_id=record.pk
        )
    except crypto.SealError:
        raise lockout.refuse(record=record, request=request, why=f"{label}: wrapped key does not open") from None
    try:
        opened = blobs.open_blobs(record, data_key=data_key, variants=variants)
    except blobs.BadBlob as bad:
        raise lockout.refuse(record=record, request=request, why=bad.why) from None

    if record.failed_attempts or record.last_failed_at:
        ImageRecord.objects.filter(pk=record.pk).update(failed_attempts=0, last_failed_at=None)
        record.failed_attempts, record.last_failed_at = 0, None
    return secret, data_key, opened


@sensitive_variables("key", "secret", "data_key")
def retrieve_variants(*, record: ImageRecord, key: str, variants, request=None) -> dict[str, bytes]:
    """Plaintext bytes of the requested variants of a record from before the vault, after one key
    check. `original` is the upload byte for byte; `compressed` is the stored codec bytes (pages
    use the codec's `display_bytes` for browsers). One success event is audited per request."""
    _secret, _data_key, opened = _legacy_open(record=record, key=key, variants=variants, request=request)
    record_event(action=AuditEvent.Action.RETRIEVE_OK, request=request, user=record.owner, record=record,
                 detail="+".join(opened))
    return opened


def retrieve_image(*, record: ImageRecord, key: str, variant: str, request=None) -> bytes:
    """One variant's plaintext; see `retrieve_variants`."""
    return retrieve_variants(record=record, key=key, variants=[variant], request=request)[variant]


def retrieve_both(*, record: ImageRecord, key: str, request=None) -> tuple[bytes, bytes]:
    """Original and compressed for the compare page, with a single key check."""
    opened = retrieve_variants(record=record, key=key, variants=blobs.LEGACY_VARIANTS, request=request)
    return opened["original"], opened["compressed"]


@sensitive_variables("key", "master_key", "secret", "data_key", "opened")
def adopt_legacy_record(*, record: ImageRecord, key: str, master_key: bytes, request=None) -> tuple[Share, str]:
    """"Add to my vault": a record stored with its own retrieval key, opened once with that key, is
    re-wrapped under the owner's master key (and gains a thumbnail and a keyed digest instead of the
    plain SHA-256). Its old key keeps working, as a share key of this image (returned with it)."""
    if not record.is_legacy:
        raise ValidationError(f"'{record.name}' is already in your vault.", code="not_legacy")
    vault = UserVault.objects.filter(user_id=record.owner_id).first()
    if vault is None:
        raise VaultLocked()
    keyring.check_master_key(vault=vault, master_key=master_key)
    secret, data_key, opened = _legacy_open(record=record, key=key, variants=["original"], request=request)
    written = _previews(record, opened["original"], data_key=data_key)
    try:
        with transaction.atomic():
            for variant, (name, digest) in written.items():
                setattr(record, f"{variant}_blob", name)
                setattr(record, f"sha256_{variant}_blob", digest)
            record.original_mac = record.upload_mac = crypto.keyed_digest(opened["original"], data_key=data_key)
            record.stored_bytes += sum(blobs.stored_size(name) for name, _digest in written.values())
            record.dk_wrap = crypto.wrap_key(data_key, wrapping_key=master_key, purpose="dk", ids=(record.pk,))
            record.vault_epoch = vault.epoch
            # The unkeyed digest and the old key's wrap and hash go: the key lives on as a share.
            record.sha256_original, record.wrapped_key, record.wrap_salt, record.key_hash = "", None, None, ""
            # Now a vault record: its exact figures are sealed like every other (vault/figures.py).
            for field, value in figures.sealed_fields(figures.from_record(record), data_key=data_key, record_id=record.pk).items():
                setattr(record, field, value)
            record.save()
            share, key_text = new_share(record=record, data_key=data_key, label="former retrieval key",
                                        expires_at=None, request=request, secret=secret)
            record_event(action=AuditEvent.Action.VAULT_ADOPTED, request=request, user=record.owner, record=record,
                         detail="Added to the vault; its retrieval key is now a share key.")
    except BaseException:
        blobs.delete_blobs_quietly([name for name, _digest in written.values()])
        raise
    return share, key_text


@sensitive_variables("original", "data_key")
def _previews(record: ImageRecord, original: bytes, *, data_key: bytes) -> dict[str, tuple[str, str]]:
    """The thumbnail (and, for an original no browser draws, the display rendition) of a record
    joining the vault: its one decode, bounded like a job's (vault/decoding.py). An original that
    no longer decodes joins without them; it still downloads as stored."""
    try:
        image = decode_original(original, filename=record.name, max_pixels=settings.UPLOAD_MAX_PIXELS).image
    except (InvalidImage, MemoryError):
        return {}
    made = {"thumbnail": make_thumbnail(image)}
    if display.needs_rendition(record):
        made[display.VARIANT] = display.make_rendition(image)
    written: dict[str, tuple[str, str]] = {}
    try:
        for variant, plaintext in made.items():
            written[variant] = blobs.write_sealed(record.pk, variant, plaintext, data_key=data_key)
    except BaseException:
        blobs.delete_blobs_quietly([name for name, _digest in written.values()])
        raise
    return written
