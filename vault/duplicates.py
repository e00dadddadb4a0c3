"""Recognising the same original uploaded twice by one user, without a plain digest.

The digest is HMAC-SHA256 of the uploaded bytes under a key derived (HKDF) from the owner's master
key. A plain SHA-256 in the database would let anyone holding it test whether a user stored a
known photo, and would link the same photo across users; this one can only be computed with the
owner's master key, which an upload request holds anyway (uploads need an open vault). Two users
uploading the same photo get unrelated digests, so nothing is ever matched across accounts.
"""
from __future__ import annotations

import hashlib
import hmac

from django.views.decorators.debug import sensitive_variables

from vault import crypto
from vault.models import ImageRecord

# Versioned: a future change of construction must not match digests made by this one.
_PURPOSE = "duplicate-digest-v1"


@sensitive_variables("master_key", "data")
def duplicate_digest(data: bytes, *, master_key: bytes) -> str:
    return hmac.new(crypto.subkey(master_key, purpose=_PURPOSE), data, hashlib.sha256).hexdigest()


def find_duplicate(*, owner, vault_epoch: int, digest: str) -> ImageRecord | None:
    """The owner's oldest image of the current vault with these bytes (in the trash too: the
    upload should say so rather than store a second copy). Records of a vault replaced after a
    reset carry digests under the old master key and never match."""
    return (
        ImageRecord.objects.filter(owner=owner, vault_epoch=vault_epoch, duplicate_mac=digest)
        .order_by("created", "id")
        .first()
    )
