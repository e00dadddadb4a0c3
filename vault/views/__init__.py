"""The vault's pages, one module per concern: images (the owner's pictures and their jobs), keys
(the vault's password, lock and recovery key), legacy (records opened with their own retrieval
key), shares, and lifecycle (export and the trash). `vault.urls` routes to the names exported here."""
from vault.views.images import bulk, compare, delete, detail, gallery, image_file, job_action, landing, upload
from vault.views.keys import lock_vault, recovery_key_saved, regenerate_recovery_key, unlock_vault
from vault.views.legacy import adopt, download, unlock
from vault.views.lifecycle import export, export_download, restore, trash, trash_empty
from vault.views.share_page import share_file, share_page
from vault.views.shares import share_create, share_revoke

__all__ = [
    "adopt", "bulk", "compare", "delete", "detail", "download", "export", "export_download", "gallery", "image_file",
    "job_action", "landing", "lock_vault", "recovery_key_saved", "regenerate_recovery_key", "restore", "share_create",
    "share_file", "share_page", "share_revoke", "trash", "trash_empty", "unlock", "unlock_vault", "upload",
]
