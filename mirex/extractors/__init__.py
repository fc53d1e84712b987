"""Extractors: each turns an audio file into one vector, under a cache identity.

An extractor offers

``id``
    its cache namespace: a name, the checksum of its weights and a digest of
    everything that changes its vectors (:func:`cache_id`);
``dim``
    the length of its vectors;
``input_spec``
    how it wants a clip decoded (extractors sharing a spec decode it once);
``load()``
    build its network now (else the first ``embed`` does; timed as start-up);
``prepare(path)``
    decode one file (thread-safe; raises :class:`mirex.audio.AudioError`);
``embed(prepared)``
    ``(n_clips, dim)`` float32 vectors of prepared clips;
``info()``
    what the id means, written beside the cached vectors.

==================  ======================================================
:mod:`.samplecnn`   SampleCNN multi-level embedding (LPNKK1/2/3)
:mod:`.mfcc`        MFCC + delta statistics (peer ``mfcc-svm``)
:mod:`.musicnn`     pooled musicnn features (peer ``musicnn-svm``)
==================  ======================================================
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["cache_id"]


def cache_id(prefix: str, params: dict, length: int = 8) -> str:
    """``prefix-<digest>``: the digest of ``params`` (JSON, sorted keys), ``length`` hex digits."""
    text = json.dumps(params, sort_keys=True)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:length]}"
