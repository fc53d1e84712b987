"""Shared fixtures: small generated audio and small seeded backbones.

Tests never read ../shared and never touch the network; every file they use
is written here, under pytest's temporary folders.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Converted models go to a folder of this run, never to the user's ~/.cache.
os.environ.setdefault("MIREX_CACHE_DIR", tempfile.mkdtemp(prefix="mirex-test-cache-"))
# The scripts run the same arithmetic on every CPU ('auto' means bf16 on CPUs
# with bf16 and fp32 elsewhere; bf16 and the auto rule have tests of their own).
os.environ.setdefault("MIREX_PRECISION", "fp32")

import numpy as np
import pytest
import soundfile as sf

from mirex.constants import SAMPLE_RATE

#: A SampleCNN with the paper's depth and narrow widths: same code paths,
#: a fraction of the cost.
TINY_CONFIG = {"widths": [8, 8, 8, 16, 16, 16, 16, 16, 16, 24, 24], "n_outputs": 5,
               "dropout": 0.0}


def tone_clip(kind: str, seed: int, seconds: float = 3.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A short test clip whose class shows in its spectrum and rhythm.

    ``kind`` is 'low' (sustained low tones), 'high' (bright pulses) or
    'noise' (filtered noise bursts); seeds vary pitch and phase.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    if kind == "low":
        f = rng.uniform(100, 200)
        y = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2 * f * t + rng.uniform(0, 6))
    elif kind == "high":
        f = rng.uniform(1500, 3000)
        y = np.sin(2 * np.pi * f * t) * (np.sin(2 * np.pi * rng.uniform(3, 5) * t) > 0)
    elif kind == "noise":
        y = rng.standard_normal(t.size)
        y = np.convolve(y, np.ones(4) / 4, mode="same") * (np.sin(2 * np.pi * 2 * t) > 0.3)
    else:
        raise ValueError(kind)
    y = y / (np.abs(y).max() + 1e-9) * 0.5 + 0.005 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def write_clip(path, y, sr: int = SAMPLE_RATE, subtype: str = "PCM_16") -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)
    return str(path)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A models folder holding tiny random 'samplecnn-msd' and 'samplecnn-mtt'."""
    from mirex.backbones import create_random_backbone

    root = tmp_path_factory.mktemp("models")
    create_random_backbone(root / "samplecnn-msd", name="samplecnn-msd", config=TINY_CONFIG, seed=1)
    create_random_backbone(root / "samplecnn-mtt", name="samplecnn-mtt", config=TINY_CONFIG, seed=2)
    return root


@pytest.fixture(scope="session")
def tone_task(tmp_path_factory):
    """12 labelled 3-s clips in 3 classes, in a folder whose name has spaces."""
    root = tmp_path_factory.mktemp("task") / "audio with spaces"
    items = []
    for label, kind in (("Low Tones", "low"), ("Hip-Hop", "high"), ("R&B", "noise")):
        for i in range(4):
            path = write_clip(root / f"{kind} clip {i}.wav", tone_clip(kind, seed=i))
            items.append((path, label))
    return items
