"""The musicnn network as a Keras 3 functional model, and the one inference runner.

:func:`build_musicnn` makes the inference graph of musicnn's ``build_musicnn``
with named layers; :func:`feature_model` exposes the per-patch outputs musicnn
extracts; :func:`patch_runner` is a traced, cached inference function over
``(batch, 187, 96)`` log-mel patches; :func:`musicnn_embed` turns a clip into
per-patch and per-clip vectors.
"""

from __future__ import annotations

import weakref

import numpy as np

from ...constants import MAX_DURATION
from .frontend import N_MELS, PATCH_FRAMES, SAMPLE_RATE, logmel, make_patches

__all__ = ["BATCH_PATCHES", "DEFAULT_CONFIG", "build_musicnn", "feature_model",
           "patch_runner", "musicnn_embed"]

#: Inference batch, in patches (bounds memory: some 30 MB of activations per patch).
BATCH_PATCHES = 16

#: Architecture of ``MSD_musicnn`` and ``MTT_musicnn`` (``MSD_musicnn_big``
#: has ``n_filt_midend=512, n_units_backend=500``).
DEFAULT_CONFIG = {
    "n_outputs": 50,
    "n_mels": N_MELS,
    "frontend_scale": 1.6,
    "n_filt_midend": 64,
    "n_units_backend": 200,
}


def _frontend_layout(config: dict) -> tuple[list, list]:
    """Timbral (frequency-wide) and temporal (time-long) filter shapes.

    Returns ``[(name, filters, (time, freq)), ...]`` for the two groups, in
    the order musicnn concatenates them (and creates their variables).
    """
    n_mels, scale = int(config["n_mels"]), float(config["frontend_scale"])
    timbral = [(f"timbral_{int(r * 100)}", int(scale * 128), (7, int(r * n_mels)))
               for r in (0.4, 0.7)]
    temporal = [(f"temporal_{k}", int(scale * 32), (k, 1)) for k in (128, 64, 32)]
    return timbral, temporal


def _bn(prefix: str):
    """TF1 ``tf.layers.batch_normalization`` as a Keras layer named ``<prefix>_bn``."""
    from keras import layers

    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.99, name=f"{prefix}_bn")


def _freq_max(x, prefix: str, filters: int):
    """Max over the frequency axis: ``(batch, T, F, filters)`` -> ``(batch, T, filters)``."""
    from keras import layers

    x = layers.MaxPooling2D(pool_size=(1, x.shape[2]), name=f"{prefix}_pool")(x)
    return layers.Reshape((-1, filters), name=f"{prefix}_squeeze")(x)


def _frontend(x, config: dict):
    """Timbral and temporal convolutions of a ``(batch, T, n_mels, 1)`` input -> ``(batch, T, 561)``."""
    from keras import layers

    timbral, temporal = _frontend_layout(config)
    x_pad = layers.ZeroPadding2D(padding=((3, 3), (0, 0)), name="timbral_pad")(x)
    branches = []
    for prefix, filters, kernel in timbral:
        y = layers.Conv2D(filters, kernel, padding="valid", activation="relu",
                          name=f"{prefix}_conv")(x_pad)
        branches.append(_freq_max(_bn(prefix)(y), prefix, filters))
    for prefix, filters, kernel in temporal:
        y = layers.Conv2D(filters, kernel, padding="same", activation="relu",
                          name=f"{prefix}_conv")(x)
        branches.append(_freq_max(_bn(prefix)(y), prefix, filters))
    return layers.Concatenate(axis=-1, name="frontend")(branches)


def _midend(frontend, n_filt_midend: int):
    """Three residual 7-frame Conv1D levels -> ``midend_features`` ``(batch, T, 561 + 3 * 64)``."""
    from keras import layers

    levels, y = [frontend], frontend
    for i in (1, 2, 3):
        z = layers.ZeroPadding1D(3, name=f"midend{i}_pad")(y)
        z = layers.Conv1D(n_filt_midend, 7, padding="valid", activation="relu",
                          name=f"midend{i}_conv")(z)
        z = _bn(f"midend{i}")(z)
        y = z if i == 1 else layers.Add(name=f"midend{i}_res")([z, y])
        levels.append(y)
    return layers.Concatenate(axis=-1, name="midend_features")(levels)


def _backend(features, n_units_backend: int, n_outputs: int):
    """Max and mean over time, dense layers -> ``taggram`` ``(batch, n_outputs)`` (sigmoid)."""
    from keras import layers

    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    x = layers.Concatenate(axis=-1, name="pool")([max_pool, mean_pool])
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name="pool_bn")(x)
    x = layers.Dropout(0.5, name="pool_dropout")(x)
    x = layers.Dense(n_units_backend, activation="relu", name="penultimate_dense")(x)
    x = _bn("penultimate")(x)
    x = layers.Dropout(0.5, name="penultimate_dropout")(x)
    x = layers.Dense(n_outputs, name="logits")(x)
    return layers.Activation("sigmoid", name="taggram")(x)


def build_musicnn(n_outputs: int = 50, n_frames: int | None = PATCH_FRAMES, n_mels: int = N_MELS,
                  frontend_scale: float = 1.6, n_filt_midend: int = 64,
                  n_units_backend: int = 200, name: str = "musicnn"):
    """Build musicnn as a Keras 3 functional model (inference graph of ``build_musicnn``).

    Architecture (shapes for a 187 x 96 patch, batch axis omitted)::

        logmel (187, 96) -> expand (187, 96, 1) -> input_bn
          timbral_40  : pad 3+3 frames, Conv2D 204 x (7, 38) relu, BN, max over freq -> (187, 204)
          timbral_70  : pad 3+3 frames, Conv2D 204 x (7, 67) relu, BN, max over freq -> (187, 204)
          temporal_128: Conv2D 51 x (128, 1) 'same' relu, BN, max over freq          -> (187, 51)
          temporal_64 / temporal_32: idem with 64- and 32-frame filters
        frontend = concat                                                            -> (187, 561)
        midend1: pad 3+3, Conv1D 64 x 7 relu, BN                                     -> (187, 64)
        midend2: pad 3+3, Conv1D 64 x 7 relu, BN, + midend1                          -> (187, 64)
        midend3: pad 3+3, Conv1D 64 x 7 relu, BN, + midend2                          -> (187, 64)
        midend_features = concat(frontend, midend1, midend2, midend3)                -> (187, 753)
        max_pool, mean_pool over time -> pool (1506) -> pool_bn -> dropout
        penultimate_dense 200 relu -> penultimate_bn -> dropout -> logits 50 -> taggram (sigmoid)

    Timbral filters span 40 % and 70 % of the mel bands (musicnn's ``f74``
    and ``f77``: 7 frames by 0.4 x 96 = 38 and 0.7 x 96 = 67 bands). Batch norms use epsilon 1e-3, as TF1's
    ``tf.layers.batch_normalization``; dropout acts in training only.

    Parameters
    ----------
    n_outputs : int
        Tags (50 for both released models).
    n_frames : int or None
        Patch length in frames; ``None`` accepts any length (the network is
        convolutional in time), at the cost of retracing per length.
    n_mels : int
        Mel bands of the input (96).
    frontend_scale : float
        Front-end width factor (1.6: 204 timbral and 51 temporal filters).
    n_filt_midend, n_units_backend : int
        Mid-end channels (64) and hidden dense units (200).
    name : str
        Model name.

    Returns
    -------
    model : keras.Model
        Input ``logmel`` ``(batch, n_frames, n_mels)`` float32; output
        ``taggram`` ``(batch, n_outputs)`` sigmoid likelihoods.
    """
    import keras
    from keras import layers

    config = {"n_outputs": n_outputs, "n_mels": n_mels, "frontend_scale": frontend_scale,
              "n_filt_midend": n_filt_midend, "n_units_backend": n_units_backend}
    inputs = keras.Input(shape=(n_frames, n_mels), name="logmel")
    x = layers.Reshape((-1, n_mels, 1), name="expand")(inputs)
    x = _bn("input")(x)
    features = _midend(_frontend(x, config), n_filt_midend)
    outputs = _backend(features, n_units_backend, n_outputs)
    return keras.Model(inputs, outputs, name=name)


def feature_model(model):
    """The same network with the outputs musicnn extracts, per patch.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_musicnn`, or from
        :func:`~.vgg.build_musicnn_vgg` (then :func:`~.vgg.vgg_feature_model`).

    Returns
    -------
    keras.Model
        Input as ``model``; outputs a dict: ``taggram`` ``(batch, n_outputs)``,
        ``max_pool`` and ``mean_pool`` ``(batch, 753)`` (VGG: 640),
        ``penultimate`` ``(batch, 200)`` (VGG: 256).
    """
    import keras

    from .vgg import is_vgg, vgg_feature_model

    if is_vgg(model):
        return vgg_feature_model(model)

    outputs = {
        "taggram": model.get_layer("taggram").output,
        "max_pool": model.get_layer("max_pool").output,
        "mean_pool": model.get_layer("mean_pool").output,
        "penultimate": model.get_layer("penultimate_bn").output,
    }
    return keras.Model(model.input, outputs, name=f"{model.name}_features")


_RUNNERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def patch_runner(model):
    """THE inference function of ``model``: traced once, cached per model.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_musicnn` / :func:`load_musicnn`.

    Returns
    -------
    callable
        ``run(patches)`` with ``patches`` float32 ``(batch, n_frames, n_mels)``
        -> dict of tensors as :func:`feature_model` (``taggram``,
        ``max_pool``, ``mean_pool``, ``penultimate``), in inference mode.
    """
    run = _RUNNERS.get(model)
    if run is None:
        import tensorflow as tf

        features = feature_model(model)
        shape = (None,) + tuple(model.input_shape[1:])
        run = tf.function(lambda x: features(x, training=False),
                          input_signature=[tf.TensorSpec(shape, tf.float32)],
                          reduce_retracing=True)
        _RUNNERS[model] = run
    return run


def _clip_samples(path_or_audio, max_duration: float | None) -> np.ndarray:
    """Mono float32 samples at 16 kHz, shape ``(n,)``, from a file or an array."""
    if isinstance(path_or_audio, np.ndarray):
        y = np.asarray(path_or_audio, dtype=np.float32)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"expected non-empty mono samples of shape (n,), got {y.shape}")
        return y
    from ...audio import load

    return load(path_or_audio, sr=SAMPLE_RATE, max_duration=max_duration)


def musicnn_embed(model, path_or_audio, batch_patches: int = BATCH_PATCHES,
                  max_duration: float | None = MAX_DURATION) -> dict:
    """Tag likelihoods and features of a clip, per patch and pooled over the clip.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_musicnn` / :func:`load_musicnn`.
    path_or_audio : str, path-like or np.ndarray [shape=(n,)]
        An audio file (decoded, mixed to mono and resampled to 16 kHz by
        :func:`mirex.audio.load`), or mono samples already at 16000 Hz.
    batch_patches : int
        Patches per inference batch (memory bound; does not change results).
    max_duration : float or None
        Decode at most this many seconds of a file.

    Returns
    -------
    out : dict of np.ndarray (float32)
        Per patch (3-s patches, see the package docstring):

        - ``taggram`` ``(n_patches, n_outputs)``: sigmoid tag likelihoods.
        - ``patch_max_pool``, ``patch_mean_pool`` ``(n_patches, 753)``.
        - ``patch_penultimate`` ``(n_patches, 200)``.

        Per clip, the mean over patches of the above:

        - ``tags`` ``(n_outputs,)`` (what musicnn's ``top_tags`` ranks),
        - ``max_pool`` ``(753,)``, ``mean_pool`` ``(753,)``,
          ``penultimate`` ``(200,)``,
        - ``embedding`` ``(1506,)`` = ``[max_pool, mean_pool]``.
    """
    y = _clip_samples(path_or_audio, max_duration)
    n_frames = model.input_shape[1] or PATCH_FRAMES
    patches = make_patches(logmel(y), n_frames)
    run = patch_runner(model)
    parts = [run(patches[i : i + batch_patches]) for i in range(0, len(patches), batch_patches)]
    per = {key: np.concatenate([np.asarray(p[key]) for p in parts]).astype(np.float32)
           for key in ("taggram", "max_pool", "mean_pool", "penultimate")}
    out = {
        "taggram": per["taggram"],
        "patch_max_pool": per["max_pool"],
        "patch_mean_pool": per["mean_pool"],
        "patch_penultimate": per["penultimate"],
        "tags": per["taggram"].mean(axis=0),
        "max_pool": per["max_pool"].mean(axis=0),
        "mean_pool": per["mean_pool"].mean(axis=0),
        "penultimate": per["penultimate"].mean(axis=0),
    }
    out["embedding"] = np.concatenate([out["max_pool"], out["mean_pool"]])
    return out
