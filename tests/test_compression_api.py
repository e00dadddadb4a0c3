"""The read-only codec API and its OpenAPI description."""
import pytest
from django.contrib.auth.models import AnonymousUser, User
from drf_spectacular.generators import SchemaGenerator
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIRequestFactory, force_authenticate

from compression.api.views import CodecViewSet
from compression.registry import codec_choices

factory = APIRequestFactory()


def _call(action, path, user=None, **kwargs):
    view = CodecViewSet.as_view({"get": action})
    request = factory.get(path)
    if user is not None:
        force_authenticate(request, user=user)
    return view(request, **kwargs)


@pytest.fixture
def user():
    return User(username="reader", id=1)


def test_list_describes_every_registered_codec(user):
    response = _call("list", "/api/v1/codecs/", user)
    assert response.status_code == 200
    by_name = {row["name"]: row for row in response.data}
    assert {"jpeg", "png", "webp", "webp-lossless", "avif"} <= set(by_name)
    assert by_name["jpeg"]["quality_range"] == [1.0, 95.0]
    assert by_name["jpeg"]["supports_alpha"] is False
    assert by_name["png"]["lossless"] is True and by_name["png"]["quality_range"] is None
    assert by_name["webp"]["media_type"] == "image/webp"


def test_retrieve_by_name(user):
    response = _call("retrieve", "/api/v1/codecs/avif/", user, name="avif")
    assert response.status_code == 200
    assert response.data["extension"] == "avif" and response.data["supports_alpha"] is True


def test_unknown_codec_is_404_with_the_name_quoted(user):
    response = _call("retrieve", "/api/v1/codecs/nope/", user, name="nope")
    assert response.status_code == 404
    assert "'nope'" in response.data["detail"]


def test_targets_lists_every_spelling_with_the_default_marked(user):
    response = _call("targets", "/api/v1/codecs/targets/", user)
    spellings = {row["spelling"]: row for row in response.data}
    assert {"lossless", "visually-lossless", "high", "balanced", "small", "ssimulacra2:<score>", "psnr:<dB>",
            "bytes:<n>"} <= set(spellings)
    assert spellings["balanced"]["default"] is True
    assert "SSIMULACRA 2 ≥ 70" in spellings["balanced"]["description"]


def test_anonymous_requests_are_refused():
    view = CodecViewSet.as_view({"get": "list"})
    request = factory.get("/api/v1/codecs/")
    request.user = AnonymousUser()
    assert view(request).status_code in (401, 403)


def test_codec_choices_start_with_auto():
    choices = codec_choices()
    assert choices[0][0] == "auto"
    assert "jpeg" in dict(choices)


def test_schema_has_no_warnings(capsys):
    router = DefaultRouter()
    router.register("codecs", CodecViewSet, basename="codec")
    schema = SchemaGenerator(patterns=router.urls).get_schema(request=None, public=True)
    assert "/codecs/{name}/" in schema["paths"]
    assert "/codecs/targets/" in schema["paths"]
    captured = capsys.readouterr()
    assert "Warning" not in captured.err and "Error" not in captured.err, captured.err
