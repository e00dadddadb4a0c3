"""Model table: name -> architecture. The bitstream names the model and a digest of its weights,
so a file is only ever decoded by the exact weights that made it. No imports: the portal reads
this table without TensorFlow."""

# Rate–distortion trade-offs of the quality levels (loss = bpp + λ · 255² · MSE): CompressAI's
# MSE-optimised models (bmshj2018, mbt2018) at qualities 1–8, each ~1.9x the one before, which span
# ~0.1–2 bpp on Kodak. A model with K levels uses the first K; how many it has is read from its
# weights (`levels.num_levels_in`), so weights with 6 and with 8 levels both load.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# The level count of a model built from nothing (tests, a run from scratch).
DEFAULT_LAMBDAS = LAMBDAS[:6]

MODELS = {
    # The shipped model (compression/weights/mscae.weights.h5). Sized for a 2-core CPU: a
    # 768×512 photo encodes and decodes in about a second, and it trains on a CPU across sessions.
    "mscae": {"N": 96, "M": 144, "lambdas": DEFAULT_LAMBDAS},
    # A few-kilobyte model for the test suite (CPU, milliseconds).
    "mscae-tiny": {"N": 8, "M": 12, "lambdas": DEFAULT_LAMBDAS},
}
DEFAULT_MODEL = "mscae"


def level_lambdas(num_levels: int) -> tuple[float, ...]:
    """The λ of a model with `num_levels` quality levels: the first of LAMBDAS."""
    if not 2 <= int(num_levels) <= len(LAMBDAS):
        raise ValueError(f"a learned model has 2 to {len(LAMBDAS)} quality levels, not {num_levels}")
    return LAMBDAS[: int(num_levels)]


def model_config(name: str) -> dict:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown learned model {name!r}; known: {', '.join(sorted(MODELS))}") from None
