"""Mounted by the portal as path("benchmarks/", include("compression.evaluation.urls"))."""
from django.urls import path

from . import views

app_name = "benchmarks"

urlpatterns = [
    path("", views.benchmarks, name="index"),
    path("plots/<str:name>", views.plot, name="plot"),
]
