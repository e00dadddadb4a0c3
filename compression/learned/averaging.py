"""The optimizer's moving average of the weights (Keras `use_ema`) outside Keras's own use of it:
swapped in for validation and export, and carried across a resumed run."""
import contextlib
from pathlib import Path

import keras

from .levels import load_weights_tolerant


@contextlib.contextmanager
def ema_weights(model):
    """Within the block the model holds the optimizer's moving averages of its weights (the
    same variables Keras's SwapEMAWeights uses); the raw weights come back afterwards."""
    optimizer = model.optimizer
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not averages:
        yield model
        return
    variables = optimizer._trainable_variables
    raw = [keras.ops.convert_to_numpy(v) for v in variables]
    for var, avg in zip(variables, averages):
        var.assign(avg)
    try:
        yield model
    finally:
        for var, value in zip(variables, raw):
            var.assign(value)


class CarryAverage(keras.callbacks.Callback):
    """A resumed run's moving average continues from the saved one. Keras sets the average to the
    raw weights at the optimizer's first step, so the saved average goes in after that step (the
    step's own 0.1 % share of it is all that is lost)."""

    def __init__(self, path: Path):
        super().__init__()
        self.path, self.done = path, False

    def on_train_batch_end(self, batch, logs=None):
        if self.done:
            return
        self.done = True
        optimizer = self.model.optimizer
        averages = getattr(optimizer, "_model_variables_moving_average", None)
        if not averages:
            return
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()
        # The file holds the optimizer's state too (learning rate, step, moments): only the
        # averaged weights are wanted, so everything else goes back as it was.
        own = [*self.model.weights, *optimizer.variables]
        current = [keras.ops.convert_to_numpy(v) for v in own]
        load_weights_tolerant(self.model, self.path)
        averaged = [keras.ops.convert_to_numpy(v) for v in optimizer._trainable_variables]
        for var, value in zip(own, current):
            var.assign(value)
        for avg, value in zip(averages, averaged):
            avg.assign(value)
