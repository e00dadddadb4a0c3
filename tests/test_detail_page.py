"""The detail page explains the stored encoding: the winner highlighted, plain-words reason,
only parameters a person can use, and the MS-SSIM column only where it was measured."""
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from tests.vault_helpers import as_before_sealing, login_unlocked, opened, vault_user
from vault import presentation
from vault.models import ImageRecord

BOOKKEEPING = {"target": "balanced", "target_description": "PSNR ≥ 33 dB", "target_met": True, "selection": "auto",
               "exact": False, "decoded_sha256": "ab" * 32, "msssim_scales": 3, "decoded_mode": "RGB"}


def cand(codec, quality, size, psnr=34.0, meets=True, effort="final", **params):
    params = {**({} if quality is None else {"quality": quality}), **params, "effort": effort}
    return {"codec": codec, "params": params, "size": size, "psnr": psnr, "msssim": None, "seconds": 0.01,
            "meets_target": meets}


def record(codec, quality, size, candidates, decided=("psnr", 33.4), ssimulacra2=(None, None), **params):
    winner_params = {**({} if quality is None else {"quality": quality}), "effort": "final"}
    return SimpleNamespace(codec=codec, compressed_size=size, psnr=33.4, candidates=candidates,
                           codec_params={**winner_params, **BOOKKEEPING, **params},
                           decided_by=decided[0], decided_value=decided[1],
                           ssimulacra2=ssimulacra2[0], ssimulacra2_worst=ssimulacra2[1])


def test_the_reason_names_the_winner_its_target_and_the_runner_up_in_plain_words():
    candidates = [cand("webp", 80, 1000), cand("avif", 52, 700, effort="fast"), cand("avif", 52, 590),
                  cand("jpeg", 70, 1500, subsampling="4:2:0"), cand("avif", 40, 400, psnr=31.0, meets=False)]
    rec = record("avif", 52, 590, candidates)
    assert presentation.winner_index(rec) == 2
    assert presentation.plain_reason(rec) == (
        "AVIF at quality 52 was the smallest file that kept PSNR ≥ 33 dB: 41 % smaller than WebP, the runner-up."
    )


def test_the_reason_for_a_missed_target_a_fixed_quality_and_a_lossless_choice():
    missed = record("jpeg", 95, 900, [cand("jpeg", 95, 900, psnr=30.2, meets=False)], target_met=False)
    assert presentation.plain_reason(missed) == "No candidate reached PSNR ≥ 33 dB; JPEG at quality 95 came closest (PSNR 33.4 dB)."
    fixed = record("webp", 80, 900, [cand("webp", 80, 900)], selection="fixed")
    assert presentation.plain_reason(fixed) == "WebP at quality 80, the quality you chose."
    lossless = record("png", None, 5000, [cand("png", None, 5000, psnr=None), cand("webp-lossless", None, 6000, psnr=None)],
                      target_description="lossless (pixel-exact)")
    assert presentation.plain_reason(lossless) == (
        "PNG was the smallest lossless file: 17 % smaller than lossless WebP, the runner-up."
    )


def test_a_perceptual_target_is_explained_with_its_score_and_worst_region():
    missed = record("avif", 100, 900, [cand("avif", 100, 900, meets=False)], target_met=False,
                    target_description="SSIMULACRA 2 ≥ 90, every 256-px region ≥ 80",
                    decided=("ssimulacra2", 87.2), ssimulacra2=(87.2, 79.04))
    assert presentation.plain_reason(missed) == (
        "No candidate reached SSIMULACRA 2 ≥ 90, every 256-px region ≥ 80; AVIF at quality 100 came closest "
        "(SSIMULACRA 2 87.2 (worst 256-px region 79.0))."
    )
    assert presentation.decided_text(missed) == "SSIMULACRA 2 87.2 (worst 256-px region 79.0)"
    assert presentation.decided_text(record("png", None, 10, [], decided=("exact", None))) == "exactness (every pixel kept)"
    assert presentation.decided_text(record("webp", 50, 10, [], decided=("", None))) is None  # an older record


def test_the_reason_under_a_size_budget_compares_quality():
    rec = record("avif", 60, 4000, [cand("avif", 60, 4000, psnr=36.0), cand("webp", 70, 3900, psnr=34.5)],
                 target_description="≤ 5 000 bytes")
    assert presentation.plain_reason(rec) == (
        "AVIF at quality 60 gave the best quality that fits ≤ 5 000 bytes (PSNR 33.4 dB); the best WebP reached PSNR 34.5 dB."
    )


def test_a_record_without_its_winner_among_the_candidates_has_no_plain_reason():
    rec = record("avif", 52, 590, [cand("webp", 80, 1000)])
    assert presentation.winner_index(rec) is None and presentation.plain_reason(rec) is None


def test_only_user_meaningful_parameters_are_shown():
    rec = record("jpeg", 70, 900, [], subsampling="4:2:0")
    shown = dict(presentation.shown_params(rec))
    assert shown == {"Quality": "70", "Chroma subsampling": "4:2:0", "Target": "PSNR ≥ 33 dB (met)",
                     "Chosen by": "automatic: every suitable codec searched"}


@pytest.mark.django_db
def test_the_detail_page_highlights_the_stored_candidate_and_hides_internals():
    user = vault_user("dora", "a-Long-enough-passw0rd")
    client = login_unlocked(Client(), "dora", "a-Long-enough-passw0rd")
    upload = SimpleUploadedFile("tree.png", image_bytes(make_photo(64, 48, seed=2)), content_type="image/png")
    client.post(reverse("vault:upload"), {"file": upload, "codec": "auto", "target": "balanced",
                                          "custom_target": "", "quality": ""})
    rec = opened(ImageRecord.objects.get(owner=user), user)
    html = client.get(reverse("vault:detail", args=[rec.pk])).content.decode()
    assert html.count('class="chosen"') == 1
    assert presentation.plain_reason(rec) in html.replace("&#x27;", "'")
    assert "decoded_sha256" not in html and "target_description" not in html and "msssim_scales" not in html
    # The balanced target is judged on SSIMULACRA 2: no candidate has an MS-SSIM, so there is no
    # such column, and the stored file's score and worst region are shown.
    assert all(c["msssim"] is None for c in rec.candidates)
    assert "<th scope=\"col\" class=\"num\">MS-SSIM</th>" not in html
    assert rec.decided_by in ("ssimulacra2", "exact") and rec.ssimulacra2 is not None
    assert f"<tr><th>SSIMULACRA 2</th><td>{rec.ssimulacra2:.1f}" in html
    assert "Judged on" in html


@pytest.mark.django_db
def test_a_record_from_before_ssimulacra2_keeps_its_figures_and_says_it_was_not_measured():
    user = vault_user("fred", "a-Long-enough-passw0rd")
    client = login_unlocked(Client(), "fred", "a-Long-enough-passw0rd")
    upload = SimpleUploadedFile("tree.png", image_bytes(make_photo(64, 48, seed=2)), content_type="image/png")
    client.post(reverse("vault:upload"), {"file": upload, "codec": "webp", "target": "custom",
                                          "custom_target": "psnr:30", "quality": ""})
    # A record compressed before SSIMULACRA 2 was measured was also stored before figures were
    # sealed: its exact figures are in the clear columns.
    rec = as_before_sealing(ImageRecord.objects.get(owner=user), user, ssimulacra2=None, ssimulacra2_worst=None,
                            decided_value=None)
    ImageRecord.objects.filter(pk=rec.pk).update(decided_by="")
    html = client.get(reverse("vault:detail", args=[rec.pk])).content.decode()
    assert "not measured when this was stored" in html and "Judged on" not in html
    assert f"{rec.psnr:.2f} dB" in html


@pytest.mark.django_db
def test_the_ms_ssim_column_appears_when_the_target_measured_it():
    user = vault_user("erin", "a-Long-enough-passw0rd")
    client = login_unlocked(Client(), "erin", "a-Long-enough-passw0rd")
    upload = SimpleUploadedFile("tree.png", image_bytes(make_photo(64, 48, seed=2)), content_type="image/png")
    client.post(reverse("vault:upload"), {"file": upload, "codec": "webp", "target": "custom",
                                          "custom_target": "msssim:0.95", "quality": ""})
    rec = opened(ImageRecord.objects.get(owner=user), user)
    html = client.get(reverse("vault:detail", args=[rec.pk])).content.decode()
    assert "<th scope=\"col\" class=\"num\">MS-SSIM</th>" in html
    measured = next(c["msssim"] for c in rec.candidates if c["msssim"] is not None)
    assert f"{measured:.4f}" in html
