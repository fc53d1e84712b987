"""The student network and its losses: a SampleCNN, with a distillation head when needed."""

from __future__ import annotations

import numpy as np

__all__ = ["EPSILON", "build_student", "loss_name", "numpy_loss"]

#: Keras' clipping of probabilities in its cross-entropies.
EPSILON = 1e-7


def build_student(config: dict, features_dim: int | None, seed: int):
    """``(backbone, train_model, trainable variables)``.

    With ``features_dim``, ``train_model`` maps the waveform to a linear
    ``Dense(features_dim)`` head on the multi-level embedding (time-max of the
    backbone's tapped blocks); otherwise it is the backbone itself.
    """
    import keras

    from ..backbones import N_TAPS
    from ..backbones.samplecnn import block_output_name, build_samplecnn

    backbone = build_samplecnn(config, seed=seed)
    if features_dim is None:
        return backbone, backbone, list(backbone.trainable_variables)
    n_blocks = len(config["widths"])
    tapped = [block_output_name(i, n_blocks) for i in range(n_blocks - N_TAPS + 1, n_blocks + 1)]
    taps = [keras.layers.GlobalMaxPooling1D(name=f"{name}_tmax")(backbone.get_layer(name).output)
            for name in tapped]
    embedding = keras.layers.Concatenate(name="multilevel")(taps)
    head = keras.layers.Dense(features_dim, name="distill_head",
                              kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
    train_model = keras.Model(backbone.input, head(embedding), name="samplecnn_distill")
    return backbone, train_model, list(train_model.trainable_variables)


def loss_name(mode: str, distill: str | None) -> str:
    if mode == "genres":
        return "categorical_crossentropy"
    if mode == "teacher" and distill == "features":
        return "mean_squared_error"
    return "binary_crossentropy"


def numpy_loss(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-segment loss, as Keras computes it: shape ``(n,)``."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    if name == "mean_squared_error":
        return ((y - p) ** 2).mean(axis=1)
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    if name == "categorical_crossentropy":
        p = p / p.sum(axis=1, keepdims=True)
        return -(y * np.log(p)).sum(axis=1)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)).mean(axis=1)
