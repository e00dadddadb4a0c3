"""Float-graph operations shared by the model and the max-effort refinement: the rounding with a
straight-through gradient and the checkerboard's anchor mask (keras.ops: any backend)."""
from keras import ops


def ste_round(v):
    """Rounded values forward, identity gradient backward (the decoder sees rounded values)."""
    return v + ops.stop_gradient(ops.round(v) - v)


def anchor_mask(y):
    """(1, h, w, 1) float: 1 at checkerboard anchors ((row + column) even), else 0."""
    shape = ops.shape(y)
    rows = ops.expand_dims(ops.arange(shape[1]), 1)
    cols = ops.expand_dims(ops.arange(shape[2]), 0)
    return ops.cast(ops.equal((rows + cols) % 2, 0), "float32")[None, :, :, None]
