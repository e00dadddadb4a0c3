"""Model table: name -> architecture. The bitstream names the model and a digest of its weights,
so a file is only ever decoded by the exact weights that made it. No imports: the portal reads
this table without TensorFlow."""

# Rate–distortion trade-offs of the K quality levels (loss = bpp + λ · 255² · MSE), the values used
# by CompressAI's MSE-optimised models, which span ~0.1–1 bpp on Kodak.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)

MODELS = {
    # The shipped model (compression/weights/mscae.weights.h5). Sized for a 2-core CPU: a
    # 768×512 photo encodes and decodes in about a second, and it trains on a CPU across sessions.
    "mscae": {"N": 96, "M": 144, "lambdas": DEFAULT_LAMBDAS},
    # A few-kilobyte model for the test suite (CPU, milliseconds).
    "mscae-tiny": {"N": 8, "M": 12, "lambdas": DEFAULT_LAMBDAS},
}
DEFAULT_MODEL = "mscae"


def model_config(name: str) -> dict:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown learned model {name!r}; known: {', '.join(sorted(MODELS))}") from None
