"""What the portal does when a person's master key (MK) arrives with a page request: a login, an
unlock, a new vault or a password change. The session keeps MK (`vault.sessions`), the images
`recompress_learned` flagged are queued, and the exact figures of records stored before they were
sealed are sealed now (`seal_old_figures`), since this is the one moment the server holds this
user's MK without being asked for an image."""
from __future__ import annotations

import logging

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from vault import figures, keyring, sessions
from vault.errors import RecordLocked, RetrievalRefused, UploadIncomplete
from vault.images.opening import current_epoch, vault_data_key
from vault.jobs.dispatch import queue_flagged
from vault.models import ImageRecord

logger = logging.getLogger(__name__)

SEAL_BATCH = 200  # records per transaction when sealing old figures


@sensitive_variables("master_key")
def open_vault_session(request, *, master_key: bytes) -> None:
    sessions.open_session(request, master_key=master_key)
    queue_flagged(owner=request.user, master_key=master_key, request=request)
    seal_old_figures(owner=request.user, master_key=master_key, request=request)


@sensitive_variables("password")
def unlock_at_login(request, *, user, password: str) -> keyring.LoginOutcome:
    """After the login form checked the password: the vault opened (or created) with it, and a
    session holding its MK."""
    outcome = keyring.open_or_create_vault(user=user, password=password, request=request)
    if outcome.master_key is not None:
        open_vault_session(request, master_key=outcome.master_key)
    return outcome


@sensitive_variables("master_key")
def seal_old_figures(*, owner, master_key: bytes, request=None) -> int:
    """Seal the exact figures of the owner's records stored before sealing (vault/figures.py) and
    leave coarse values in their columns, each record's seal and coarsening in one UPDATE; returns
    how many. A migration could not do it: only the owner's MK opens each DK. Legacy records (their
    own retrieval key) and records of a replaced vault stay as they are. Never fails the unlock."""
    try:
        ids = list(
            ImageRecord.objects.filter(owner=owner, figures_sealed__isnull=True, dk_wrap__isnull=False)
            .order_by("pk").values_list("pk", flat=True)
        )
        sealed, epoch = 0, current_epoch(owner.pk)
        for start in range(0, len(ids), SEAL_BATCH):
            with transaction.atomic():
                for record in ImageRecord.objects.select_for_update().filter(
                    pk__in=ids[start:start + SEAL_BATCH], figures_sealed__isnull=True
                ):
                    sealed += _seal_one(record, master_key=master_key, request=request, epoch=epoch)
        return sealed
    except Exception:  # noqa: BLE001 - an unlock must never fail because of this; the next one retries
        logger.exception("could not seal the old figures of user %s", owner.pk)
        return 0


@sensitive_variables("master_key", "data_key")
def _seal_one(record: ImageRecord, *, master_key: bytes, request, epoch: int | None) -> int:
    try:
        data_key = vault_data_key(record=record, master_key=master_key, request=request, epoch=epoch)
    except (RecordLocked, RetrievalRefused, UploadIncomplete):
        return 0
    fields = figures.sealed_fields(figures.from_record(record), data_key=data_key, record_id=record.pk)
    ImageRecord.objects.filter(pk=record.pk).update(**fields)
    return 1
