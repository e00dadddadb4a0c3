"""Generalized divisive normalization (Ballé, Laparra, Simoncelli 2016), written with keras.ops
so the same code runs on the TensorFlow and JAX backends.

    GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
    IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)
"""
import numpy as np

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mscae")
class GDN(keras.layers.Layer):
    def __init__(self, inverse: bool = False, gamma_init: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.inverse = inverse
        self.gamma_init = gamma_init

    def build(self, input_shape):
        channels = int(input_shape[-1])
        # beta and gamma must stay positive; squaring the stored parameters keeps them so
        # without clipping, whose zero gradient can freeze a unit for good.
        self.beta_p = self.add_weight(name="beta", shape=(channels,), initializer="ones")
        self.gamma_p = self.add_weight(
            name="gamma",
            shape=(channels, channels),
            initializer=keras.initializers.Constant(np.sqrt(self.gamma_init) * np.eye(channels)),
        )

    def call(self, x):
        beta = ops.square(self.beta_p) + 1e-6
        gamma = ops.square(self.gamma_p)
        norm = ops.sqrt(ops.matmul(ops.square(x), ops.transpose(gamma)) + beta)
        return x * norm if self.inverse else x / norm

    def get_config(self):
        return {**super().get_config(), "inverse": self.inverse, "gamma_init": self.gamma_init}
