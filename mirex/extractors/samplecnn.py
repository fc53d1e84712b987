"""SampleCNN multi-level embedding: clip -> segments -> engine -> mean over segments."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..constants import MAX_DURATION, MAX_SEGMENTS
from ..engines import (describe_choice, embed_clips, fast_bf16_cpu,
                       make_engine, resolve_engine)
from . import cache_id

__all__ = ["SampleCNNExtractor", "EMBEDDING_VERSION"]

log = logging.getLogger(__name__)

#: Bumped whenever the way a clip becomes a vector changes, so old cache
#: entries stop matching.
EMBEDDING_VERSION = 1

class SampleCNNExtractor:
    """Clip file -> multi-level SampleCNN embedding, with a cache identity.

    The engine is built lazily, on the first :meth:`embed`, so that a run
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
    engine, precision : str
        See :data:`mirex.engines.ENGINES` and :data:`mirex.engines.PRECISIONS`.
        Float paths share one cache namespace; openvino bf16 (what 'auto'
        means on a CPU with AMX-BF16 or AVX512-BF16) has its own, named
        ``<backbone>-<sha>-bf16-...``.
    num_threads : int or None
        CPU threads of the engine (``None``: all cores).
    engine_cache : path or None
        Where converted models are kept between calls (``None``: none kept).
    """

    def __init__(self, backbone, max_segments=None, max_duration=None,
                 batch_segments: int | None = None, engine: str = "auto",
                 precision: str = "auto", num_threads: int | None = None,
                 engine_cache=None):
        self.engine = (engine or "auto").lower()
        self.precision = (precision or "auto").lower()
        # Fail now, before any decoding, on unknown names and impossible pairs;
        # 'auto' itself is resolved (GPU or not) when the engine is built.
        resolve_engine(self.engine, self.precision, gpu=False)
        self.backbone = backbone
        self.max_segments = MAX_SEGMENTS if max_segments is None else max_segments
        self.max_duration = MAX_DURATION if max_duration is None else max_duration
        self.batch_segments = batch_segments
        self.num_threads = num_threads
        self.engine_cache = engine_cache
        self._engine = None
        self._resolved = None
        self._id = None

    def __getstate__(self) -> dict:
        """Pickled (e.g. sent to a cluster worker) without its built network."""
        return {**self.__dict__, "_engine": None}

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
    def resolved(self) -> tuple[str, str]:
        """The concrete ``(engine, precision)`` (what 'auto' means on this machine)."""
        if self._resolved is None:
            self._resolved = resolve_engine(self.engine, self.precision)
        return self._resolved

    @property
    def id(self) -> str:
        """Cache namespace: backbone name, weights checksum, extraction parameters.

        Float paths (fp32 on any engine, keras bf16) share one; openvino
        bf16 has its own, whose name says so and changes with its making
        (:data:`~mirex.engines.openvino.BF16_VERSION`).
        Worked out once per extractor.
        """
        if self._id is None:
            self._id = self._cache_id()
        return self._id

    def _cache_id(self) -> str:
        params = {"spec": self.input_spec, "taps": self.backbone.feature_layers,
                  "version": EMBEDDING_VERSION}
        prefix = f"{self.name}-{self.backbone.weights_sha256[:12]}"
        if self._quantized() == ("openvino", "bf16"):
            from ..engines.openvino import BF16_VERSION

            params["precision"] = f"bf16-openvino-v{BF16_VERSION}"
            prefix += "-bf16"
        return cache_id(prefix, params)

    def _quantized(self) -> tuple[str, str]:
        """The concrete engine and precision where they matter to the cache id.

        Float paths (any engine in fp32, keras bf16) share one namespace, so
        where the CPU alone says the path is a float one, no GPU probe is made.
        """
        p = self.precision
        if p == "fp32" or (p in ("auto", "bf16") and not fast_bf16_cpu()):
            return ("float", p)
        return self.resolved

    def info(self) -> dict:
        return {"extractor": "samplecnn-multilevel", "backbone": self.name,
                "backbone_path": str(self.backbone.path),
                "weights_sha256": self.backbone.weights_sha256,
                "trained": self.backbone.trained, "dim": self.dim,
                "feature_layers": self.backbone.feature_layers,
                "max_segments": self.max_segments, "max_duration": self.max_duration,
                "embedding_version": EMBEDDING_VERSION,
                "engine": self.resolved[0], "precision": self.resolved[1]}

    def prepare(self, path) -> np.ndarray:
        """Decode and segment one file: ``(n_segments, segment_samples)``.

        Thread-safe; raises :class:`mirex.audio.AudioError`.
        """
        from .. import audio

        return audio.load_segments(path, sr=self.backbone.sample_rate,
                                   n_samples=self.backbone.segment_samples,
                                   max_segments=self.max_segments,
                                   max_duration=self.max_duration)

    def load(self) -> None:
        """Build the engine now (else the first :meth:`embed` does)."""
        if self._engine is None:
            engine, precision = self.resolved
            log.info("%s: %s", self.name,
                     describe_choice(engine, precision, (self.engine, self.precision)))
            self._engine = make_engine(self.backbone, engine, precision, self.batch_segments,
                                       self.num_threads, self.engine_cache)

    def embed(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of prepared clips: ``(n_clips, dim)``."""
        self.load()
        return embed_clips(self._engine, prepared)
