"""benchmarks/context.py: the variants switch off what they say, on a tiny model, and the model
comes back as it was."""
import numpy as np
from PIL import Image

from benchmarks import context
from compression.learned.models import build_model
from compression.learned.zoo import model_config


def _tiny(tmp_path):
    cfg = model_config("mscae-tiny")
    model = build_model(cfg["N"], cfg["M"], cfg["lambdas"])
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return model, path


def test_with_the_parameter_network_untrained_the_variants_cost_the_same(tmp_path):
    model, path = _tiny(tmp_path)  # ep1 starts at zero: neither context nor network adds anything
    report = context.run(model, [path])
    for variant in context.VARIANTS[1:]:
        np.testing.assert_allclose(report["bpp"][variant], report["bpp"]["trained"], rtol=1e-5)


def test_a_working_context_changes_the_rate_and_the_weights_are_restored(tmp_path):
    model, path = _tiny(tmp_path)
    rng = np.random.default_rng(1)
    model.ep1.set_weights([rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.ep1.get_weights()])
    before = [w.copy() for layer in (model.ep1, model.context_conv) for w in layer.get_weights()]
    report = context.run(model, [path])
    after = [w for layer in (model.ep1, model.context_conv) for w in layer.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert len(report["bpp"]["trained"]) == model.num_levels
    for variant in context.VARIANTS[1:]:
        assert not np.allclose(report["bpp"][variant], report["bpp"]["trained"], rtol=1e-4)
    assert "mean" in context.report_lines(report)[-1]
