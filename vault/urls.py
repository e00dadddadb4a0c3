from django.urls import path

from vault import views

app_name = "vault"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("upload/", views.upload, name="upload"),
    path("images/", views.gallery, name="gallery"),
    path("images/selected/", views.bulk, name="bulk"),
    path("images/trash/", views.trash, name="trash"),
    path("images/trash/empty/", views.trash_empty, name="trash-empty"),
    path("images/export/", views.export, name="export"),
    path("images/export/download/", views.export_download, name="export-download"),
    path("images/<int:pk>/", views.detail, name="detail"),
    path("images/<int:pk>/compare/", views.compare, name="compare"),
    path("images/<int:pk>/file/<str:variant>/", views.image_file, name="file"),
    path("images/<int:pk>/delete/", views.delete, name="delete"),
    path("images/<int:pk>/restore/", views.restore, name="restore"),
    path("images/<int:pk>/cancel/", views.job_action, {"action": "cancel"}, name="job-cancel"),
    path("images/<int:pk>/retry/", views.job_action, {"action": "retry"}, name="job-retry"),
    path("images/<int:pk>/recompress/", views.job_action, {"action": "recompress"}, name="job-recompress"),
    path("images/<int:pk>/shares/", views.share_create, name="share-create"),
    path("images/<int:pk>/shares/<int:share_id>/revoke/", views.share_revoke, name="share-revoke"),
    path("s/<str:public_id>/", views.share_page, name="share"),
    path("s/<str:public_id>/file/<str:what>/", views.share_file, name="share-file"),
    # Records stored before the per-user vault open with their own retrieval key.
    path("images/<int:pk>/unlock/", views.unlock, name="unlock"),
    path("images/<int:pk>/download/", views.download, name="download"),
    path("images/<int:pk>/adopt/", views.adopt, name="adopt"),
    path("vault/unlock/", views.unlock_vault, name="unlock-vault"),
    path("vault/lock/", views.lock_vault, name="lock-vault"),
    path("vault/recovery-key/", views.regenerate_recovery_key, name="regenerate-recovery-key"),
    path("vault/recovery-key/saved/", views.recovery_key_saved, name="recovery-key-saved"),
]
