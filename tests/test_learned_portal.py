"""The learned codec inside the portal: registry, uploads, retrieval as .msc and PNG, fallback."""
import io
import logging

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from compression import registry
from compression.base import DecodeCheckError
from compression.learned import coder
from compression.learned.codec import LearnedCodec, register_learned_codec
from compression.learned.models import build_model
from compression.learned.zoo import model_config
from compression.services import compress_image

from .conftest import image_bytes, make_photo


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    cfg = model_config("mscae-tiny")
    return coder.wrap_model("mscae-tiny", build_model(cfg["N"], cfg["M"], cfg["lambdas"]))


@pytest.fixture
def tiny_codec(tiny_model):
    return registry.register(LearnedCodec(loaded=tiny_model))


@pytest.fixture
def api(db):
    from .vault_helpers import vault_user

    vault_user("carol", "x-Secret-123")
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "carol", "password": "x-Secret-123"}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")  # the token carries its wrap of the vault key
    return client


def test_the_shipped_weights_register_mscae_in_the_codec_registry(settings, tmp_path):
    settings.CODEC_WEIGHTS_DIR = tmp_path
    assert register_learned_codec() is False  # no weights there: not offered
    (tmp_path / "mscae.weights.h5").write_bytes(b"placeholder")
    assert register_learned_codec() is True
    assert registry.get_codec("mscae").extension == "msc"
    settings.LEARNED_CODEC_ENABLED = False
    registry.unregister("mscae")
    assert register_learned_codec() is False


def test_a_named_mscae_encode_records_the_digest_of_its_decoded_pixels(tiny_codec):
    image = make_photo(80, 64, seed=2)
    result = compress_image(image=image, codec="mscae", quality=60)
    assert result.codec == "mscae" and result.data[:4] == b"MSCA"
    decoded = tiny_codec.decode(result.data)
    import hashlib

    assert result.params["decoded_sha256"] == hashlib.sha256(decoded.tobytes()).hexdigest()
    assert result.bpp == pytest.approx(len(result.data) * 8 / (80 * 64))


def test_auto_considers_the_learned_codec(tiny_codec):
    # The untrained tiny model rarely survives the gate's probe (tests/test_selection_gate.py):
    # either it was searched, or the reason says why not.
    result = compress_image(image=make_photo(64, 48, seed=4), codec="auto", target="small")
    assert "mscae" in {c.codec for c in result.candidates} or "mscae not searched" in result.reason


def test_a_learned_file_that_fails_its_decode_check_falls_back_to_a_classical_codec(tiny_model, caplog):
    class Broken(LearnedCodec):
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
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["codec"] == "mscae"
    url = f"/api/v1/images/{body['id']}/download/"

    msc = api.get(url, {"variant": "compressed"})
    assert msc.status_code == 200 and msc["Content-Type"] == "application/x-mscae"
    assert msc.content[:4] == b"MSCA" and 'filename="' in msc["Content-Disposition"]

    png = api.get(url, {"variant": "decoded"})
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    shown = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
    np.testing.assert_array_equal(shown, np.asarray(tiny_codec.decode(msc.content)))


def test_the_compare_page_shows_a_learned_image_as_png_with_a_png_download(client, tiny_codec, db):
    from vault.services import store_image

    from .vault_helpers import login_unlocked, vault_user

    user = vault_user("dave", "x-Secret-123")
    record, _ = store_image(owner=user, master_key=user.master_key, uploaded_file_or_bytes=image_bytes(make_photo(64, 64)),
                            filename="cat.png", codec="mscae", quality=40)
    login_unlocked(client, "dave", "x-Secret-123")
    page = client.get(f"/images/{record.pk}/compare/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/images/{record.pk}/file/decoded/?download=1" in html
    shown = client.get(f"/images/{record.pk}/file/compressed-display/")
    assert shown["Content-Type"] == "image/png"  # no browser shows .msc: the page gets a PNG
    decoded = client.get(f"/images/{record.pk}/file/decoded/?download=1")
    assert decoded["Content-Type"] == "image/png" and 'filename="cat.mscae.png"' in decoded["Content-Disposition"]


@pytest.mark.django_db
def test_recompress_learned_flags_old_model_files_and_the_owners_next_unlock_reencodes_them(tiny_codec, client):
    from django.core.management import call_command

    from vault import services
    from vault.models import ImageRecord

    from .vault_helpers import login_unlocked, vault_user

    owner = vault_user("dora", "x-Secret-123")
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo(64, 48)),
        filename="a.png", codec="mscae", quality=50,
    )
    assert record.codec_params["model"] == tiny_codec.model_id
    # As if an earlier model had made it.
    ImageRecord.objects.filter(pk=record.pk).update(codec_params={**record.codec_params, "model": "mscae/v1/0123"})
    old_blob = record.compressed_blob
    out = io.StringIO()
    call_command("recompress_learned", stdout=out)
    assert "Flagged 1 mscae image of 1 user" in out.getvalue()
    record.refresh_from_db()
    assert record.needs_recompress and record.compressed_blob == old_blob  # nothing opened or deleted yet

    login_unlocked(client, "dora", "x-Secret-123")  # jobs run eagerly here: re-encoded during the login
    record.refresh_from_db()
    assert not record.needs_recompress and record.status == "done" and record.codec == "mscae"
    assert record.codec_params["model"] == tiny_codec.model_id and record.compressed_blob != old_blob
    again = io.StringIO()
    call_command("recompress_learned", stdout=again)
    assert "nothing to do" in again.getvalue()
