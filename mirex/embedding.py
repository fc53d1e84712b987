"""Multi-level embeddings: taps of a backbone's top hidden blocks -> one vector per clip.

Conventions
-----------
- Segments: ``float32`` arrays of shape ``(n_segments, segment_samples)``.
- Per-segment features: for each tapped block, the maximum over time of its
  output, concatenated in tap order: shape ``(n_segments, dim)``.
- Clip embedding: the mean of its segments' features: shape ``(dim,)``.

Inference runs in fixed-size batches (the last one zero-padded), so the graph
is traced once and a segment's features do not depend on which other
segments share its batch. TensorFlow places the work on a GPU when it sees
one; :func:`configure_threads` bounds the CPU threads.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

__all__ = ["configure_threads", "FeatureModel", "pool_segments", "embed_clips",
           "SampleCNNExtractor", "EMBEDDING_VERSION", "apply_thread_settings", "run_batched",
           "ENGINES", "PRECISIONS", "make_feature_model", "keras_feature_model",
           "resolve_engine"]

#: Segments per inference batch of the Keras engine on a CPU.
BATCH_SEGMENTS = 16


def configure_threads(n_threads: int | None) -> None:
    """Bound the threads of TensorFlow, OpenMP and BLAS to ``n_threads``.

    Sets the environment variables these libraries read when they start (so
    TensorFlow is not imported here), and TensorFlow's own settings if it is
    already loaded. ``None`` or 0 leaves the defaults (all cores).
    """
    if not n_threads:
        return
    n, inter = int(n_threads), 1 if int(n_threads) == 1 else 2
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
    if "tensorflow" in sys.modules:
        apply_thread_settings()


def configured_threads() -> int | None:
    """The thread bound set by :func:`configure_threads`, or ``None`` (all cores)."""
    return int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0) or None


def apply_thread_settings() -> None:
    """Hand the thread bounds of :func:`configure_threads` to TensorFlow.

    Called right after TensorFlow is imported, before its first operation.
    """
    import tensorflow as tf

    intra = configured_threads() or 0
    inter = int(os.environ.get("TF_NUM_INTEROP_THREADS", "0") or 0)
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already running: its settings stand
        pass


def keras_feature_model(backbone, precision: str = "fp32"):
    """The backbone cut at its tapped blocks, each max-pooled over time, concatenated.

    Input ``(batch, segment_samples, 1)`` float32, output ``(batch, dim)``
    float32. ``precision='bf16'`` computes in bfloat16 (Keras'
    ``mixed_bfloat16`` policy: weights stay float32, the output is cast back).
    """
    import keras

    from .backbones.samplecnn import dtype_policy

    with dtype_policy({"fp32": "float32", "bf16": "mixed_bfloat16"}[precision]):
        model = backbone.build()
        taps = [keras.layers.GlobalMaxPooling1D(name=f"{name}_tmax")(model.get_layer(name).output)
                for name in backbone.feature_layers]
        merged = keras.layers.Concatenate(name="multilevel")(taps) if len(taps) > 1 else taps[0]
        merged = keras.layers.Activation("linear", dtype="float32", name="to_float32")(merged)
    return keras.Model(model.input, merged, name=f"{backbone.name}_features")


class FeatureModel:
    """A backbone cut at its tapped blocks, max-pooled over time, traced once (TensorFlow).

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
        A verified backbone folder.
    batch_segments : int
        Segments per inference batch.
    precision : {'fp32', 'bf16'}
        Arithmetic (see :func:`keras_feature_model`).
    """

    def __init__(self, backbone, batch_segments: int = BATCH_SEGMENTS, precision: str = "fp32"):
        import tensorflow as tf

        apply_thread_settings()
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.precision = precision
        self.model = keras_feature_model(backbone, precision)
        self.dim = int(self.model.output.shape[-1])
        n = backbone.segment_samples
        self._run = tf.function(
            lambda x: self.model(tf.expand_dims(x, -1), training=False),
            input_signature=[tf.TensorSpec([self.batch_segments, n], tf.float32)],
            reduce_retracing=True,
        )

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features.

        Parameters
        ----------
        segments : np.ndarray [shape=(n_segments, segment_samples)]

        Returns
        -------
        features : np.ndarray [shape=(n_segments, dim), dtype=float32]
        """
        return run_batched(self._run, segments, self.batch_segments, self.dim,
                           self.backbone.segment_samples)


def run_batched(run, segments: np.ndarray, batch: int, dim: int, n_samples: int) -> np.ndarray:
    """Apply a traced ``(batch, n_samples) -> (batch, dim)`` function to any number of segments.

    Every call has the same shape (the last batch is zero-padded), so the
    function is traced once and a segment's result does not depend on its
    batch company.
    """
    segments = np.asarray(segments, dtype=np.float32)
    n_seg, n = segments.shape
    if n != n_samples:
        raise ValueError(f"segments hold {n} samples, the backbone expects {n_samples}")
    out = np.empty((n_seg, dim), np.float32)
    for start in range(0, n_seg, batch):
        chunk = segments[start : start + batch]
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), n), np.float32)])
        out[start : start + batch] = np.asarray(run(chunk))[: min(batch, n_seg - start)]
    return out


def pool_segments(features: np.ndarray) -> np.ndarray:
    """Mean over a clip's segments: ``(n_segments, dim) -> (dim,)``."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"expected (n_segments >= 1, dim) features, got shape {features.shape}")
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


def embed_clips(model: FeatureModel, clips: Sequence[np.ndarray]) -> np.ndarray:
    """Embed several clips in shared batches.

    Parameters
    ----------
    model : FeatureModel
    clips : sequence of np.ndarray [shape=(n_segments_i, segment_samples)]
        The segments of each clip.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_clips, dim), dtype=float32]
    """
    if not clips:
        return np.zeros((0, model.dim), np.float32)
    counts = [len(c) for c in clips]
    features = model.segment_features(np.concatenate(clips))
    bounds = np.cumsum([0] + counts)
    return np.stack([pool_segments(features[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


#: Inference engines. 'keras': TensorFlow's kernels, CPU or GPU. 'tflite':
#: TensorFlow Lite with XNNPACK, CPU (see :mod:`mirex.tflite_inference`).
#: 'blas': NumPy / OpenBLAS matrix products, CPU (opt-in). 'auto': keras when
#: TensorFlow sees a GPU, else tflite.
ENGINES = ("auto", "keras", "tflite", "blas")
#: Arithmetic. 'fp32' everywhere; 'bf16' (keras engine: mixed bfloat16, the
#: GPU default of 'auto'); 'int8' (tflite engine: full-integer quantization).
#: 'auto': bf16 on a GPU, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Segments per batch on a GPU (large batches keep it busy).
GPU_BATCH_SEGMENTS = 256
#: Segments per batch of the TFLite engine: as fast as 16 on 2 cores, and its
#: activation arena is a quarter the size (peak RSS 1.09 GB against 1.40 GB).
TFLITE_BATCH_SEGMENTS = 4
#: Segments per batch of the int8 TFLite engine: its segments are split among
#: loudness bands, each band's last batch zero-padded; batches of 2 waste
#: less (measured, 3 bands: 47.5 segments/s against 43.7 with 4).
TFLITE_INT8_BATCH_SEGMENTS = 2
#: Segments per batch of the BLAS engine.
BLAS_BATCH_SEGMENTS = 8


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_engine(engine: str = "auto", precision: str = "auto",
                   gpu: bool | None = None) -> tuple[str, str]:
    """The concrete ``(engine, precision)`` for the requested ones.

    ``gpu`` (default: ask TensorFlow) decides what 'auto' means. Raises
    ``ValueError`` for unknown names and for combinations no engine runs.
    """
    engine, precision = (engine or "auto").lower(), (precision or "auto").lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; choose from {ENGINES}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    if "auto" in (engine, precision) and gpu is None:
        gpu = gpu_available()
    if engine == "auto":
        engine = "tflite" if precision == "int8" else "keras" if gpu or precision == "bf16" \
            else "tflite"
    if precision == "auto":
        precision = "bf16" if gpu and engine == "keras" else "fp32"
    allowed = {"keras": ("fp32", "bf16"), "tflite": ("fp32", "int8"), "blas": ("fp32",)}
    if precision not in allowed[engine]:
        raise ValueError(f"the {engine} engine runs {' or '.join(allowed[engine])}, "
                         f"not {precision}")
    return engine, precision


def make_feature_model(backbone, engine: str = "auto", batch_segments: int | None = None,
                       precision: str = "auto"):
    """The feature model of ``backbone`` for an inference engine and precision.

    In float32 all engines give the same features within float32 rounding,
    so a cache made with one is valid for the others; 'bf16' stays within
    about 1 % of them (see ``README.txt``), 'int8' is kept apart.
    ``batch_segments`` (segments per inference call) defaults to the
    engine's own (:data:`TFLITE_BATCH_SEGMENTS`, :data:`TFLITE_INT8_BATCH_SEGMENTS`,
    :data:`BLAS_BATCH_SEGMENTS`, :data:`BATCH_SEGMENTS`, or :data:`GPU_BATCH_SEGMENTS`
    on a GPU).
    """
    engine, precision = resolve_engine(engine, precision)
    if engine == "blas":
        from .blas_inference import BlasFeatureModel

        return BlasFeatureModel(backbone, batch_segments or BLAS_BATCH_SEGMENTS)
    if engine == "tflite":
        from .tflite_inference import TFLiteFeatureModel

        default = TFLITE_INT8_BATCH_SEGMENTS if precision == "int8" else TFLITE_BATCH_SEGMENTS
        return TFLiteFeatureModel(backbone, batch_segments or default, precision)
    if batch_segments is None:
        batch_segments = GPU_BATCH_SEGMENTS if gpu_available() else BATCH_SEGMENTS
    return FeatureModel(backbone, batch_segments, precision)


#: Bumped whenever the way a clip becomes a vector changes, so old cache
#: entries stop matching.
EMBEDDING_VERSION = 1


class SampleCNNExtractor:
    """Clip file -> multi-level SampleCNN embedding, with a cache identity.

    The network is built lazily, on the first :meth:`embed`, so that a run
    served entirely from the cache never starts TensorFlow.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    max_segments : int or None
        Segments taken per clip (see :func:`mirex.audio.segment`).
    max_duration : float or None
        Seconds decoded per file (see :func:`mirex.audio.load`).
    batch_segments : int or None
        Segments per inference batch (default: the engine's).
    engine, precision : str or None
        See :data:`ENGINES` and :data:`PRECISIONS` (default:
        ``$MIREX_ENGINE`` / ``$MIREX_PRECISION``, else 'auto'). Float
        precisions share one cache namespace; 'int8' has its own.
    """

    def __init__(self, backbone, max_segments=None, max_duration=None,
                 batch_segments: int | None = None, engine: str | None = None,
                 precision: str | None = None):
        from .constants import ENV_ENGINE, ENV_PRECISION, MAX_DURATION, MAX_SEGMENTS

        self.engine = (engine or os.environ.get(ENV_ENGINE) or "auto").lower()
        self.precision = (precision or os.environ.get(ENV_PRECISION) or "auto").lower()
        # Fail now, before any decoding, on unknown names and impossible pairs;
        # 'auto' itself is resolved (GPU or not) when the network is built.
        resolve_engine(self.engine, self.precision, gpu=False)
        self.backbone = backbone
        self.max_segments = MAX_SEGMENTS if max_segments is None else max_segments
        self.max_duration = MAX_DURATION if max_duration is None else max_duration
        self.batch_segments = batch_segments
        self._model = None

    @property
    def name(self) -> str:
        return self.backbone.name

    @property
    def dim(self) -> int:
        return self.backbone.embedding_dim

    @property
    def input_spec(self) -> tuple:
        """Clips are decoded once for all extractors sharing this spec."""
        return ("segments", self.backbone.sample_rate, self.backbone.segment_samples,
                self.max_segments, self.max_duration)

    @property
    def id(self) -> str:
        """Cache namespace: backbone name, weights checksum, extraction parameters."""
        import hashlib
        import json

        params = {"spec": self.input_spec, "taps": self.backbone.feature_layers,
                  "version": EMBEDDING_VERSION}
        if self.precision == "int8":
            from .tflite_inference import INT8_VERSION

            params["precision"] = f"int8-v{INT8_VERSION}"
        params = json.dumps(params, sort_keys=True)
        digest = hashlib.sha256(params.encode()).hexdigest()[:8]
        return f"{self.name}-{self.backbone.weights_sha256[:12]}-{digest}"

    def info(self) -> dict:
        return {"extractor": "samplecnn-multilevel", "backbone": self.name,
                "backbone_path": str(self.backbone.path),
                "weights_sha256": self.backbone.weights_sha256,
                "trained": self.backbone.trained, "dim": self.dim,
                "feature_layers": self.backbone.feature_layers,
                "max_segments": self.max_segments, "max_duration": self.max_duration,
                "embedding_version": EMBEDDING_VERSION,
                **({"precision": "int8"} if self.precision == "int8" else {})}

    def prepare(self, path) -> np.ndarray:
        """Decode and segment one file: ``(n_segments, segment_samples)``.

        Thread-safe; raises :class:`mirex.audio.AudioError`.
        """
        from . import audio

        return audio.load_segments(path, sr=self.backbone.sample_rate,
                                   n_samples=self.backbone.segment_samples,
                                   max_segments=self.max_segments,
                                   max_duration=self.max_duration)

    def embed(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of prepared clips: ``(n_clips, dim)``."""
        if self._model is None:
            self._model = make_feature_model(self.backbone, self.engine, self.batch_segments,
                                             self.precision)
        return embed_clips(self._model, prepared)
