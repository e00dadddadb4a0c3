"""The compare view's difference picture (vault/difference.py): exact from the decoded pixels, so a
lossless copy of a transparent image is all zero, and a lossy one is not."""
import io

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from compression import registry
from tests.conftest import make_photo
from vault.difference import difference_pixels
from .test_compare_page import stored
from .test_vault_pages import PASSWORD, alice, client_alice  # noqa: F401 - fixtures
from .vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db


def half_transparent(seed=4):
    image = make_photo(160, 120, seed=seed, mode="RGBA")  # alpha ramps 0..255 across: every opacity
    return image


def test_a_lossless_webp_of_a_transparent_image_differs_nowhere():
    image = half_transparent()
    decoded = registry.get_codec("webp-lossless").decode(registry.get_codec("webp-lossless").encode(image))
    assert np.array_equal(np.asarray(decoded.convert("RGBA")), np.asarray(image))  # the premise: pixel-identical
    assert difference_pixels(image, decoded).max() == 0


def test_pixels_transparent_in_both_are_equal_whatever_colour_they_hide_and_opacity_changes_count():
    a = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    b = Image.new("RGBA", (2, 1), (0, 255, 0, 0))
    assert difference_pixels(a, b).max() == 0
    b.putpixel((1, 0), (255, 0, 0, 40))
    assert difference_pixels(a, b)[0, 1].min() == 40


def test_the_difference_url_serves_zero_for_a_lossless_record_and_more_for_a_lossy_one(client_alice, alice):
    lossless = stored(alice, half_transparent(), name="logo.png", codec="webp-lossless")
    lossy = stored(alice, make_photo(160, 120, seed=5), name="photo.png", codec="webp", quality=20)
    shown = {}
    for record in (lossless, lossy):
        response = client_alice.get(reverse("vault:file", args=[record.pk, "difference"]))
        assert response.status_code == 200 and response["Content-Type"] == "image/png" and "no-store" in response["Cache-Control"]
        picture = Image.open(io.BytesIO(response.content))
        assert picture.mode == "RGB" and picture.size == (160, 120)  # opaque: the browser reads it back as sent
        shown[record.name] = np.asarray(picture).max()
    assert shown["logo.png"] == 0 and shown["photo.png"] > 0
    assert f'data-difference-src="{reverse("vault:file", args=[lossless.pk, "difference"])}"' in client_alice.get(
        reverse("vault:compare", args=[lossless.pk])).content.decode()


def test_another_users_difference_is_404(alice):
    record = stored(alice, make_photo(seed=1), codec="webp", quality=50)
    vault_user("bob", PASSWORD)
    bob = login_unlocked(Client(), "bob", PASSWORD)
    assert bob.get(reverse("vault:file", args=[record.pk, "difference"])).status_code == 404
