"""Codec, target, quality and effort are checked by compression alone, with the same message on
the API as from `compress_image`; a quality no codec accepts is refused even with `auto`."""
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from compression.base import CodecError, CompressionResult
from compression.selection.options import parse_request
from compression.services import compress_image
from tests.conftest import image_bytes, make_photo
from vault.models import ImageRecord


@pytest.mark.parametrize("quality", [-5, 1e9, 100.5, "abc", float("inf")])
def test_auto_refuses_a_quality_no_codec_accepts(quality):
    with pytest.raises(CodecError, match="(?i)quality"):
        compress_image(image=make_photo(32, 24), codec="auto", quality=quality)


def test_auto_still_notes_and_ignores_a_valid_quality():
    result = compress_image(image=make_photo(48, 32), codec="auto", quality=50)
    assert "quality 50.0 ignored" in result.reason


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"effort": "turbo"}, "'turbo'"), ({"codec": "nope"}, "'nope'"), ({"target": "psnr:0"}, "'0'")],
)
def test_bad_options_are_refused_quoting_the_value(kwargs, needle):
    with pytest.raises(ValueError) as caught:
        parse_request(**kwargs)
    assert needle in str(caught.value)


def test_options_are_normalised():
    request = parse_request(codec=" JPEG ", target="", quality="40", effort=" Max ")
    assert (request.codec, request.target.spec, request.quality, request.effort) == ("jpeg", "balanced", 40.0, "max")


def test_result_is_json_safe_as_returned():
    result = compress_image(image=make_photo(48, 32), target="lossless")
    assert result.psnr is None  # exact: infinite PSNR is not JSON
    assert all(c["psnr"] is None for c in result.candidate_dicts())
    manual = CompressionResult(
        codec="x", params={"gain": float("inf"), "q": (1, 2)}, data=b"", media_type="", extension="",
        size=0, width=1, height=1, psnr=float("inf"), ssim=1.0, msssim=float("nan"), bpp=0.0, seconds=0.0,
    )
    assert manual.params == {"gain": None, "q": [1, 2]} and manual.psnr is None and manual.msssim is None


@pytest.fixture
def api(db):
    get_user_model().objects.create_user("carol", password="a-Long-enough-passw0rd")
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"username": "carol", "password": "a-Long-enough-passw0rd"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _upload(client, **fields):
    payload = {"file": SimpleUploadedFile("p.png", image_bytes(make_photo()), "image/png"), **fields}
    return client.post("/api/v1/images/", payload, format="multipart")


@pytest.mark.parametrize("quality, needle", [("-5", "-5"), ("1000000000", "1000000000")])
def test_api_refuses_an_out_of_range_quality_with_auto(api, quality, needle):
    response = _upload(api, codec="auto", quality=quality)
    assert response.status_code == 400
    assert needle in response.json()["detail"] and "out of range" in response.json()["detail"]
    assert not ImageRecord.objects.exists()


def test_api_takes_an_effort_level(api):
    response = _upload(api, codec="auto", target="small", effort="fast")
    assert response.status_code == 202, response.content
    assert ImageRecord.objects.get().codec_params["effort_level"] == "fast"
    assert _upload(api, effort="slowest").status_code == 400
