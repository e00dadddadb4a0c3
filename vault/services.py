"""The vault's operations under the names the views, the API and the tests call them by.

Nothing is defined here: each name comes from the module that owns it (see vault/README.md).
"""
from vault.errors import GENERIC_REFUSAL, SHARE_UNAVAILABLE, RecordLocked, RetrievalLocked, RetrievalRefused, ShareUnavailable
from vault.images.deletion import delete_image
from vault.images.export import stream_export
from vault.images.legacy import adopt_legacy_record, retrieve_both, retrieve_image
from vault.images.opening import open_metadata, open_variant, open_variants, reveal_figures, reveal_figures_for
from vault.images.shares import create_share, live_share, open_share, open_with_share_key, revoke_share, unlock_share
from vault.images.trash import empty_trash, move_to_trash, restore
from vault.jobs.state import job_options
from vault.uploads import sanitize_filename, store_image

__all__ = [
    "GENERIC_REFUSAL", "SHARE_UNAVAILABLE", "RecordLocked", "RetrievalLocked", "RetrievalRefused",
    "ShareUnavailable", "adopt_legacy_record", "create_share", "delete_image", "empty_trash", "job_options",
    "live_share", "move_to_trash", "open_metadata", "open_share", "open_variant", "open_variants", "open_with_share_key", "restore",
    "reveal_figures", "reveal_figures_for",
    "retrieve_both", "retrieve_image", "revoke_share", "sanitize_filename", "store_image", "stream_export", "unlock_share",
]
