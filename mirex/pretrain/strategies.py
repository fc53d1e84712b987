"""``tf.distribute`` strategies for the TensorFlow backend, by name.

``'mirrored'``: :class:`tf.distribute.MirroredStrategy` over the GPUs of one
machine. ``'multiworker'``: :class:`tf.distribute.MultiWorkerMirroredStrategy`,
which reads the cluster from the ``TF_CONFIG`` environment variable of each
process (TensorFlow reads it, not this package), e.g. on the first of two
machines::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'

Every worker runs the same command with the same output and cache folders on
a shared file system; worker 0 (or the ``chief``) writes checkpoints, logs
and the backbone. ``batch_size`` is the global batch (a multiple of the
replicas). Other Keras backends refuse a strategy.
"""

from __future__ import annotations

__all__ = ["STRATEGIES", "make_strategy", "is_chief"]

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(strategy):
    """A ``tf.distribute.Strategy`` from its name (or itself); ``None`` for ``'default'``."""
    if strategy is None or strategy == "default":
        return None
    if not isinstance(strategy, str):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"--strategy {strategy} needs the TensorFlow backend (tf.distribute); "
                         f"this is {keras.backend.backend()}")
    import tensorflow as tf

    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy) -> bool:
    """Whether this process writes files (worker 0 or the chief of a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    spec = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in spec
