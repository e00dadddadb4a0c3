"""The learned codec inside the portal: registry, uploads, retrieval as .msc and PNG, fallback."""
import io
import logging

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from rest_framework.test import APIClient

from compression import registry
from compression.base import DecodeCheckError
from compression.learned import codec as learned
from compression.learned.models import build_model
from compression.learned.zoo import model_config
from compression.services import compress_image

from .conftest import image_bytes, make_photo


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    cfg = model_config("mscae-tiny")
    return learned.wrap_model("mscae-tiny", build_model(cfg["N"], cfg["M"], cfg["lambdas"]))


@pytest.fixture
def tiny_codec(tiny_model):
    return registry.register(learned.LearnedCodec(loaded=tiny_model))


@pytest.fixture
def api(db):
    user = get_user_model().objects.create_user("carol", password="x-Secret-123")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_shipped_weights_register_mscae_in_the_codec_registry(settings, tmp_path):
    settings.CODEC_WEIGHTS_DIR = tmp_path
    assert learned.register_learned_codec() is False  # no weights there: not offered
    (tmp_path / "mscae.weights.h5").write_bytes(b"placeholder")
    assert learned.register_learned_codec() is True
    assert registry.get_codec("mscae").extension == "msc"
    settings.LEARNED_CODEC_ENABLED = False
    registry.unregister("mscae")
    assert learned.register_learned_codec() is False


def test_a_named_mscae_encode_records_the_digest_of_its_decoded_pixels(tiny_codec):
    image = make_photo(80, 64, seed=2)
    result = compress_image(image=image, codec="mscae", quality=60)
    assert result.codec == "mscae" and result.data[:4] == b"MSCA"
    decoded = tiny_codec.decode(result.data)
    import hashlib

    assert result.params["decoded_sha256"] == hashlib.sha256(decoded.tobytes()).hexdigest()
    assert result.bpp == pytest.approx(len(result.data) * 8 / (80 * 64))


def test_auto_searches_the_learned_codec_among_the_candidates(tiny_codec):
    result = compress_image(image=make_photo(64, 48, seed=4), codec="auto", target="small")
    assert "mscae" in {c.codec for c in result.candidates}


def test_a_learned_file_that_fails_its_decode_check_falls_back_to_a_classical_codec(tiny_model, caplog):
    class Broken(learned.LearnedCodec):
        def decode(self, data):
            raise DecodeCheckError(self.name, "decoded symbols differ")

    registry.register(Broken(loaded=tiny_model))
    with caplog.at_level(logging.WARNING, logger="compression.services"):
        result = compress_image(image=make_photo(64, 48), codec="mscae", quality=50)
    assert result.codec != "mscae"
    assert result.params["fallback_from"] == "mscae"
    assert "decode check" in result.reason
    assert any("decode check" in r.getMessage() for r in caplog.records)


def test_uploads_with_mscae_are_retrievable_as_msc_and_as_png(api, tiny_codec):
    photo = make_photo(72, 56, seed=6)
    response = api.post(
        "/api/v1/images/",
        {"file": io.BytesIO(image_bytes(photo)), "codec": "mscae", "quality": "70"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["codec"] == "mscae"
    url = f"/api/v1/images/{body['id']}/retrieve/"

    msc = api.post(url, {"key": body["key"], "variant": "compressed"}, format="json")
    assert msc.status_code == 200 and msc["Content-Type"] == "application/x-mscae"
    assert msc.content[:4] == b"MSCA" and 'filename="' in msc["Content-Disposition"]

    png = api.post(url, {"key": body["key"], "variant": "decoded"}, format="json")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    shown = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
    np.testing.assert_array_equal(shown, np.asarray(tiny_codec.decode(msc.content)))


def test_the_compare_page_shows_a_learned_image_as_png_with_a_png_download(client, tiny_codec, db):
    from vault.services import store_image

    user = get_user_model().objects.create_user("dave", password="x-Secret-123")
    record, key = store_image(owner=user, uploaded_file_or_bytes=image_bytes(make_photo(64, 64)),
                              filename="cat.png", codec="mscae", quality=40)
    client.force_login(user)
    page = client.post(f"/images/{record.pk}/unlock/", {"key": key})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'download="cat.mscae.png"' in html
    assert "data:image/png;base64," in html
