from django.urls import path

from vault import views

app_name = "vault"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("upload/", views.upload, name="upload"),
    path("images/", views.gallery, name="gallery"),
    path("images/<int:pk>/", views.detail, name="detail"),
    path("images/<int:pk>/unlock/", views.unlock, name="unlock"),
    path("images/<int:pk>/download/", views.download, name="download"),
    path("images/<int:pk>/key-file/", views.key_file, name="key-file"),
    path("images/<int:pk>/delete/", views.delete, name="delete"),
]
