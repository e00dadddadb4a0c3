"""Max effort for the learned codec: the latents of one photo refined by stochastic Gumbel
annealing on its own rate-distortion loss, coded and decoded by the unchanged codec."""
import numpy as np
import pytest

from compression.learned import coder, refine
from compression.learned.codec import LearnedCodec
from compression.learned.coding import pad
from compression.services import compress_image

from .conftest import make_photo
from .test_learned_portal import tiny_codec, tiny_model  # noqa: F401 - fixtures

QUALITY = 60
STEPS = 30


@pytest.fixture(autouse=True)
def tiny_steps(monkeypatch):
    # The untrained tiny model's latents are about 0.1 and its synthesis outputs nearly 0: steps
    # of the shipped model's size would not move a latent across a rounding boundary in 30 steps.
    monkeypatch.setattr(refine, "LEARNING_RATE", 0.1)


@pytest.fixture(scope="module")
def photo():
    return np.asarray(make_photo(80, 56, seed=11))


def test_the_refinement_loss_with_hard_rounding_is_the_models_evaluation_loss(tiny_model):
    # refine.rd_loss repeats MSCAE.prior with a pluggable rounding: if the model changes, this fails.
    model = tiny_model.model
    x = np.asarray(make_photo(64, 64, seed=5), np.float32)[None] / 255.0
    level = 2
    expected = float(model({"image": x, "level": np.array([level])}, training=False)["rd"][0])
    gain, igain = model.gains_for_quality(level)
    y = model.g_a(x) * gain
    loss, _, _ = refine.rd_loss(model, y, x, igain[None, None, None], model.lambdas[level], refine.hard_round, (64, 64))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_soft_rounding_stays_between_floor_and_ceil_and_anneals_to_hard_rounding():
    import keras

    v = np.linspace(-3.0, 3.0, 601, dtype=np.float32)
    v = v[np.abs(v - np.round(v)) < 0.45]  # away from the ties, where both roundings are right
    seed = keras.random.SeedGenerator(1)
    warm = np.asarray(refine.sga_round(v, 0.5, seed))
    cold = np.asarray(refine.sga_round(v, 0.01, seed))
    assert np.all(warm >= np.floor(v)) and np.all(warm <= np.floor(v) + 1)
    assert np.mean(np.abs(warm - np.round(warm))) > 0.05  # still soft at the start
    np.testing.assert_allclose(cold, np.round(v), atol=1e-3)
    assert refine.temperature(0, 300) == refine.TAU_START
    assert refine.temperature(299, 300) == pytest.approx(refine.TAU_END)


def test_refined_latents_give_a_file_of_lower_real_loss_that_the_normal_decoder_reads(tiny_model, photo):
    session = coder.EncoderSession(tiny_model, photo)
    knob = tiny_model.knob(QUALITY)
    default = session.encode(QUALITY)
    result = refine.refine(tiny_model.model, pad(session.array), session.analysis(), knob, STEPS,
                           pixels=photo.shape[:2])
    assert result.end_loss < result.start_loss
    refined = session.encode(QUALITY, analysis=result.analysis)
    assert refined != default
    decoded = coder.decode(refined, tiny_model)  # the normal decoder, its symbol check included
    assert decoded.shape == photo.shape
    assert refine.real_loss(tiny_model, refined, photo, knob) < refine.real_loss(tiny_model, default, photo, knob)


def test_compress_image_at_max_effort_codes_the_refined_latents(tiny_codec, tiny_model, photo):
    from PIL import Image

    image = Image.fromarray(photo)
    knob = tiny_model.knob(QUALITY)
    default = compress_image(image=image, codec="mscae", quality=QUALITY, effort="default")
    best = compress_image(image=image, codec="mscae", quality=QUALITY, effort="max")
    assert default.data == coder.encode(tiny_model, photo, QUALITY)
    assert best.data != default.data
    assert refine.real_loss(tiny_model, best.data, photo, knob) < refine.real_loss(tiny_model, default.data, photo, knob)
    assert np.asarray(tiny_codec.decode(best.data)).shape == photo.shape


def test_a_searched_mscae_winner_is_re_encoded_at_max_effort(tiny_codec):
    result = compress_image(image=make_photo(64, 48, seed=4), codec="mscae", target="balanced", effort="max")
    finals = [c for c in result.candidates if c.params["effort"] == "final"]
    assert finals and all(c.codec == "mscae" for c in finals)


def test_max_effort_keeps_the_default_file_when_the_refined_one_has_a_higher_real_loss(tiny_model, photo, monkeypatch):
    session = coder.EncoderSession(tiny_model, photo)
    default = session.encode(QUALITY)
    # However the refinement went, the real loss of the two files decides.
    monkeypatch.setattr(refine, "real_loss", lambda loaded, data, image, knob: 1.0 if data == default else 2.0)
    data, figures = refine.encode_refined(session, QUALITY, STEPS)
    assert data == default and not figures["refined"]


def test_photos_above_the_refinement_limit_are_coded_at_default_effort(tiny_model, photo, monkeypatch):
    monkeypatch.setattr(refine, "MAX_PIXELS", photo.shape[0] * photo.shape[1] - 1)
    session = coder.EncoderSession(tiny_model, photo)
    data, figures = refine.encode_refined(session, QUALITY, STEPS)
    assert figures == {"refined": False, "reason": "too large"}
    assert data == session.encode(QUALITY)


def test_the_learned_codec_offers_refinement_only_at_max_effort():
    assert LearnedCodec.effort_presets["max"]["refine_steps"] >= 100
    assert "default" not in LearnedCodec.effort_presets


def test_under_a_backend_without_gradient_tapes_max_effort_codes_at_default_effort(tiny_model, photo, monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    session = coder.EncoderSession(tiny_model, photo)
    data, figures = refine.encode_refined(session, QUALITY, STEPS)
    assert figures == {"refined": False, "reason": "needs TensorFlow"}
    assert data == session.encode(QUALITY)
