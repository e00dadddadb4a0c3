"""Shares: one image, one key, for anyone holding it. The image's data key is wrapped under a
fresh share key that is shown once and stored nowhere; wrong keys are counted per client with a
growing wait, and against a per-share ceiling that the owner is told about (`lockout`)."""
from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import crypto, display, location, originals
from vault.errors import RetrievalLocked, ShareUnavailable
from vault.images import lockout
from vault.images.opening import check_variants, open_sealed_blobs, vault_data_key
from vault.models import ImageRecord, Share


def _share_wrapping_key(secret: bytes) -> bytes:
    # The share key is 256 random bits, so HKDF suffices (nothing to slow down); its own purpose
    # keeps this key distinct from any other use of the same bytes.
    return crypto.subkey(secret, purpose="share-wrap-v1")


@sensitive_variables("master_key", "data_key", "secret")
def create_share(*, record: ImageRecord, master_key: bytes, label: str = "", expires_at=None, request=None,
                 secret: bytes | None = None, include_location: bool = False) -> tuple[Share, str]:
    """A new share of one image. Returns it with its key text, which is stored nowhere: the caller
    shows it once. `secret` is only passed when an old retrieval key becomes a share key.
    `include_location`: whether the original it serves keeps its GPS position and place names."""
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    return new_share(record=record, data_key=data_key, label=label, expires_at=expires_at, request=request, secret=secret,
                     include_location=include_location)


@sensitive_variables("data_key", "secret")
@transaction.atomic
def new_share(*, record, data_key, label, expires_at, request, secret=None, include_location=False) -> tuple[Share, str]:
    """A share of an image whose data key the caller already holds (see `create_share`)."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(f"The expiry {expires_at:%Y-%m-%d %H:%M} is in the past.", code="expires_at")
    secret = secret or crypto.new_retrieval_key()
    share = Share(record=record, public_id=secrets.token_urlsafe(12), label=(label or "").strip()[:100], expires_at=expires_at,
                  include_location=bool(include_location))
    share.dk_wrap = b""
    share.save()  # the id the wrap is bound to
    share.dk_wrap = crypto.wrap_key(data_key, wrapping_key=_share_wrapping_key(secret), purpose="dk-share", ids=(record.pk, share.pk))
    share.save(update_fields=["dk_wrap"])
    until = f" until {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else ""
    located = ", location included" if share.include_location else ""
    record_event(action=AuditEvent.Action.SHARE_CREATED, request=request, user=record.owner, record=record,
                 detail=f"Share {share.public_id} created{until}{located}.")
    return share, crypto.format_retrieval_key(secret)


@transaction.atomic
def revoke_share(*, share: Share, request=None) -> None:
    record_event(action=AuditEvent.Action.SHARE_REVOKED, request=request, user=share.record.owner, record=share.record,
                 detail=f"Share {share.public_id} revoked.")
    share.delete()  # the wrap goes with the row: the key opens nothing any more


@sensitive_variables("secret")
def _share_data_key(share: Share, secret: bytes) -> bytes | None:
    try:
        return crypto.unwrap_key(share.dk_wrap, wrapping_key=_share_wrapping_key(secret), purpose="dk-share",
                                 ids=(share.record_id, share.pk))
    except crypto.SealError:
        return None


def live_share(public_id: str) -> Share:
    """The share a link names while it opens anything; `ShareUnavailable` for an unknown, expired
    or revoked one alike, so a stranger learns nothing from which it is."""
    share = Share.objects.select_related("record", "record__owner").filter(public_id=str(public_id)[:32]).first()
    # An image in the trash is deleted as far as its owner's recipients go; restoring it brings
    # its shares back.
    if share is None or share.is_expired() or share.record.in_trash:
        raise ShareUnavailable()
    return share


@sensitive_variables("key", "secret", "data_key")
def unlock_share(*, public_id: str, key: str, request=None) -> tuple[Share, bytes]:
    """The live share and its image's data key, for the right key; a wrong one is counted like
    any guess (`lockout`). Opens no file and is not audited: the share page checks the key with
    it before showing what the share holds."""
    share = live_share(public_id)
    secret = lockout.parse_key(key, kind="share key")
    # Only this client waits: the share's id alone (it is in URLs and logs) cannot lock it for others.
    lockout.share_wait(share, request, timezone.now())
    data_key = _share_data_key(share, secret)
    if data_key is None:
        raise lockout.share_refuse(share=share, request=request, why="wrong key")
    lockout.ShareBackoff(share, request).succeed()
    return share, data_key


@sensitive_variables("key", "secret", "data_key")
def open_share(*, public_id: str, key: str, variants, request=None) -> tuple[Share, dict[str, bytes]]:
    """Anyone's request with a share link's key: the one image, nothing else. `variants` may name
    a shown form ("display", "decoded"...): the answer holds each under the name asked for and
    under the stored blob's name it was opened from (vault/display.py)."""
    wanted = list(variants)
    share = live_share(public_id)
    variants = check_variants(dict.fromkeys(display.stored_variant(v, share.record) for v in wanted))
    share, data_key = unlock_share(public_id=public_id, key=key, request=request)
    opened = open_sealed_blobs(record=share.record, data_key=data_key, variants=variants, request=request)
    if "original" in opened and not share.include_location:
        # Lossless: the GPS block and XMP place names go, the coded picture stays byte for byte.
        # The compressed version and the thumbnail never had them (vault/metadata.py).
        opened["original"] = location.without_location(opened["original"], originals.served_format(share.record))
    Share.objects.filter(pk=share.pk).update(uses=F("uses") + 1, last_used_at=timezone.now())
    record_event(action=AuditEvent.Action.SHARE_OPENED, request=request, user=None, record=share.record,
                 detail=f"Share {share.public_id}: {'+'.join(variants)}")
    return share, {**opened, **{v: opened[display.stored_variant(v, share.record)] for v in wanted}}


@sensitive_variables("key", "secret", "data_key")
def open_with_share_key(*, record: ImageRecord, key: str, variants, request=None) -> dict[str, bytes]:
    """The old `POST /images/<id>/retrieve/` with a share key of that record (the owner's own
    request): the key is tried against the record's live shares; a wrong one counts against the
    record and the owner like a wrong retrieval key."""
    variants = check_variants(variants)
    secret = lockout.parse_key(key)
    remaining = lockout.record_lock_remaining(record, timezone.now())
    if remaining:
        raise RetrievalLocked(remaining)
    for share in record.shares.all():
        data_key = None if share.is_expired() else _share_data_key(share, secret)
        if data_key is not None:
            opened = open_sealed_blobs(record=record, data_key=data_key, variants=variants, request=request)
            record_event(action=AuditEvent.Action.SHARE_OPENED, request=request, record=record,
                         detail=f"Share {share.public_id} via the record's retrieve endpoint: {'+'.join(variants)}")
            return opened
    raise lockout.refuse(record=record, request=request, why="no live share of this image opens with this key")
