"""One router for every app's API (`/api/v1/`); each app keeps its serializers and views in api/."""
from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api.views import ObtainTokenView
from compression.api.views import CodecViewSet
from vault.api.views import ImageRecordViewSet, ShareRetrieveView

router = DefaultRouter()
router.register("images", ImageRecordViewSet, basename="image")
router.register("codecs", CodecViewSet, basename="codec")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("shares/<str:share_id>/retrieve/", ShareRetrieveView.as_view(), name="share-retrieve"),
    *router.urls,
]
