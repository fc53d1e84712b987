"""musicnn's VGG-style taggers (``MSD_vgg``, ``MTT_vgg``) as a Keras 3 functional model.

The baseline of Pons & Serra (2019): five 3 x 3 convolution blocks over the
same log-mel patches as musicnn (:mod:`.frontend`: 187 frames x 96 mel bands,
3 s at 16 kHz), each block ``Conv2D 128 relu -> batch norm -> max pool ->
dropout``, then a dense layer over the flattened last pool. It is
``musicnn.models.vgg(x, is_training, 50, num_filters=128)`` of the 0.1.0
wheel, layer for layer; the VGG models only accept 3-s patches (the
flattened last pool has a fixed size).

Shapes of ``MTT_vgg`` (batch axis omitted; pools are TF1 ``max_pooling2d``,
padding 'valid')::

    logmel (187, 96) -> expand (187, 96, 1) -> input_bn
    block1: Conv2D 128 (3, 3) 'same' relu, BN, max pool (4, 1) stride (2, 2)  -> (92, 48, 128)
    block2: idem, max pool (2, 2) stride (2, 2)                               -> (46, 24, 128)
    block3: idem                                                              -> (23, 12, 128)
    block4: idem                                                              -> (11, 6, 128)
    block5: idem, max pool (4, 4) stride (4, 4)                               -> (2, 1, 128)
    flatten (256) -> dropout 0.5 -> logits 50 -> taggram (sigmoid)

``MSD_vgg`` was trained with other first pools, which the wheel's
``models.py`` does not say: the graph saved with its checkpoint (the
``.meta`` file) pools block 1 by (4, 1) with stride (4, 1) -> (46, 96) and
block 2 by (1, 4) with stride (1, 4) -> (46, 24); blocks 3-5 as above. The
musicnn 0.1.0 extractor runs the MSD weights through the MTT layout (and its
docstring calls ``MSD_vgg`` "still training"); this port follows the graph
the weights were trained in (:data:`VGG_POOLS`, the ``pools`` entry of the
config), which ``tools/musicnn_vgg_reference.py`` runs.

Features (:func:`vgg_feature_model`), per patch: ``taggram`` (50),
``max_pool`` and ``mean_pool`` (640 each): the maximum and the mean over
time and frequency of each block's pooled map (5 blocks x 128 channels, block
1 first), and ``penultimate`` (256), the flattened last pool the classifier
reads. The same keys as musicnn's :func:`~.network.feature_model`, so the
teacher, :func:`~.network.musicnn_embed` and the ``musicnn-svm`` style
extractor work on either network (the VGG clip ``embedding`` is 1280-d).

TF1 variables (creation order) -> Keras layers::

    batch_normalization/*        (1,)               input_bn
    1CNN/kernel, bias            (3, 3, 1, 128)     block1_conv
    batch_normalization_1/*      (128,)             block1_bn
    2CNN .. 5CNN                 (3, 3, 128, 128)   block2_conv .. block5_conv
    batch_normalization_2 .. _5  (128,)             block2_bn .. block5_bn
    dense/kernel, bias           (256, 50)          logits

TF1's flatten of an NHWC ``(2, 1, 128)`` map and Keras' ``Flatten`` agree,
so the dense kernel is copied as it is.
"""

from __future__ import annotations

from .frontend import N_MELS, PATCH_FRAMES

__all__ = ["VGG_CONFIG", "VGG_POOLS", "vgg_config", "build_musicnn_vgg", "vgg_feature_model",
           "vgg_checkpoint_plan", "is_vgg", "N_BLOCKS"]

N_BLOCKS = 5

#: ``[[pool_time, pool_freq], [stride_time, stride_freq]]`` of each block, per released model
#: (read from the ``.meta`` graphs of the wheel; see the module docstring).
VGG_POOLS = {
    "MTT_vgg": [[[4, 1], [2, 2]], [[2, 2], [2, 2]], [[2, 2], [2, 2]], [[2, 2], [2, 2]],
                [[4, 4], [4, 4]]],
    "MSD_vgg": [[[4, 1], [4, 1]], [[1, 4], [1, 4]], [[2, 2], [2, 2]], [[2, 2], [2, 2]],
                [[4, 4], [4, 4]]],
}

#: Architecture of ``MTT_vgg`` (``models.vgg(..., num_filters=128)``); ``MSD_vgg`` differs in
#: ``pools`` (:func:`vgg_config`).
VGG_CONFIG = {"n_outputs": 50, "n_mels": N_MELS, "n_filters": 128, "pools": VGG_POOLS["MTT_vgg"]}


def vgg_config(which: str) -> dict:
    """The build config of the released model ``which`` (``'MSD_vgg'`` or ``'MTT_vgg'``)."""
    return {**VGG_CONFIG, "pools": VGG_POOLS[which]}


def build_musicnn_vgg(n_outputs: int = 50, n_mels: int = N_MELS, n_filters: int = 128,
                      pools=None, name: str = "musicnn_vgg"):
    """Build musicnn's VGG tagger (inference graph of ``musicnn.models.vgg``).

    Parameters
    ----------
    n_outputs : int
        Tags (50 for both released models).
    n_mels : int
        Mel bands of the input (96).
    n_filters : int
        Channels of every convolution (128).
    pools : list or None
        ``[[pool_time, pool_freq], [stride_time, stride_freq]]`` of the five
        blocks (:data:`VGG_POOLS`); ``None``: ``MTT_vgg``'s.
    name : str
        Model name.

    Returns
    -------
    model : keras.Model
        Input ``logmel`` ``(batch, 187, n_mels)`` float32; output ``taggram``
        ``(batch, n_outputs)`` sigmoid likelihoods. Batch norms use epsilon
        1e-3 (TF1's default); dropout acts in training only.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(PATCH_FRAMES, n_mels), name="logmel")
    x = layers.Reshape((PATCH_FRAMES, n_mels, 1), name="expand")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name="input_bn")(x)
    pools = VGG_POOLS["MTT_vgg"] if pools is None else pools
    if len(pools) != N_BLOCKS:
        raise ValueError(f"pools must give {N_BLOCKS} blocks, got {len(pools)}")
    for i, (pool, strides) in enumerate(pools, start=1):
        if i > 1:
            x = layers.Dropout(0.25, name=f"block{i - 1}_dropout")(x)
        x = layers.Conv2D(n_filters, (3, 3), padding="same", activation="relu",
                          name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=f"block{i}_bn")(x)
        x = layers.MaxPooling2D(tuple(pool), tuple(strides), padding="valid",
                                name=f"block{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="flatten_dropout")(x)
    x = layers.Dense(n_outputs, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="taggram")(x)
    return keras.Model(inputs, outputs, name=name)


def vgg_feature_model(model):
    """The VGG network with per-patch outputs under musicnn's keys.

    Returns
    -------
    keras.Model
        Input as ``model``; outputs a dict: ``taggram`` ``(batch, n_outputs)``,
        ``max_pool`` and ``mean_pool`` ``(batch, 5 * n_filters)`` (each block's
        pooled map reduced over time and frequency, block 1 first),
        ``penultimate`` ``(batch, 256)`` (the flattened last pool).
    """
    import keras
    from keras import layers

    pools = [model.get_layer(f"block{i}_pool").output for i in range(1, N_BLOCKS + 1)]
    max_pool = layers.Concatenate(name="vgg_max_pool")(
        [layers.GlobalMaxPooling2D(name=f"block{i}_gmax")(p) for i, p in enumerate(pools, 1)])
    mean_pool = layers.Concatenate(name="vgg_mean_pool")(
        [layers.GlobalAveragePooling2D(name=f"block{i}_gmean")(p) for i, p in enumerate(pools, 1)])
    outputs = {"taggram": model.get_layer("taggram").output, "max_pool": max_pool,
               "mean_pool": mean_pool, "penultimate": model.get_layer("flatten").output}
    return keras.Model(model.input, outputs, name=f"{model.name}_features")


def vgg_checkpoint_plan() -> list[tuple[str, str]]:
    """``(tf1_scope, keras_layer)`` pairs of the VGG checkpoint (table in the module docstring)."""
    plan = [("batch_normalization", "input_bn")]
    for i in range(1, N_BLOCKS + 1):
        plan += [(f"{i}CNN", f"block{i}_conv"), (f"batch_normalization_{i}", f"block{i}_bn")]
    return plan + [("dense", "logits")]


def is_vgg(model) -> bool:
    """Whether ``model`` is a VGG tagger from :func:`build_musicnn_vgg` (not a musicnn)."""
    return any(layer.name == "block1_conv" for layer in model.layers)
