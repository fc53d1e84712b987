"""Record the original musicnn 0.1.0's outputs on the test clips (run once, by hand).

Writes ``tests/data/musicnn_reference.json``: for each clip of
``tests/test_musicnn.py::reference_clips`` (synthesised from fixed seeds, at
16 kHz, 16-bit) its sha256, two frames of librosa's mel power spectrogram and
of musicnn's log-mel input, the per-band mean of that input; and for
``MSD_musicnn`` and ``MTT_musicnn`` the taggram (every 3-s patch), the mean
over patches of ``max_pool`` and ``mean_pool`` and, for the first clip, those
two features for every patch. Numbers are rounded to 5 decimals (mel power:
6 significant digits).

This needs the original stack, which does not run under the project's
TensorFlow 2.16+/Keras 3 and NumPy 2, so it runs in its own virtualenv::

    python3.11 -m venv /tmp/musicnn_ref_venv
    /tmp/musicnn_ref_venv/bin/pip install "tensorflow-cpu==2.15.*" "numpy<2" \\
        "librosa==0.9.2" soundfile pytest
    /tmp/musicnn_ref_venv/bin/pip install --no-deps musicnn==0.1.0
    /tmp/musicnn_ref_venv/bin/python tools/musicnn_reference.py      # from the repo root

(pytest is only there because the clip generator lives in the test module,
which this script imports by path; ``mirex`` is not imported.) It takes about
half a minute on 2 cores.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "musicnn_reference.json"
MODELS = ("MSD_musicnn", "MTT_musicnn")
MEL_FRAMES = (0, 300)
#: Clip whose per-patch features are stored (the others store clip means).
PATCH_CLIP = "chords_drums"


def _test_module():
    spec = importlib.util.spec_from_file_location("test_musicnn", ROOT / "tests" / "test_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _r5(x):
    return np.round(np.asarray(x, dtype=np.float64), 5).tolist()


def _sig6(x):
    return [[float(f"{v:.6g}") for v in row] for row in np.asarray(x, dtype=np.float64)]


def main() -> int:
    import librosa
    import musicnn
    import tensorflow as tf
    from musicnn import extractor as mx

    clips = _test_module().reference_clips()
    sr = _test_module().CLIP_SR
    result = {
        "about": "Outputs of the original musicnn 0.1.0 on tests/test_musicnn.py::reference_clips; "
                 "written by tools/musicnn_reference.py",
        "extractor_call": "musicnn.extractor.extractor(wav, model, input_length=3, "
                          "input_overlap=False, extract_features=True)",
        "versions": {"musicnn": "0.1.0", "tensorflow": tf.__version__,
                     "librosa": librosa.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "mel_frames": list(MEL_FRAMES),
        "clips": {},
        "models": {m: {} for m in MODELS},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, samples in clips.items():
            path = os.path.join(tmp, f"{name}.wav")
            sf.write(path, samples, sr, subtype="PCM_16")
            y, _ = librosa.load(path, sr=sr)
            mel = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=256, n_fft=512,
                                                 n_mels=96).T
            _, logmel = mx.batch_data(path, 187, 187)
            result["clips"][name] = {
                "sha256": hashlib.sha256(samples.tobytes()).hexdigest(),
                "n_samples": int(samples.size),
                "n_frames": int(logmel.shape[0]),
                "mel": _sig6(mel[list(MEL_FRAMES)]),
                "logmel": _r5(logmel[list(MEL_FRAMES)]),
                "logmel_band_mean": _r5(logmel.astype(np.float64).mean(axis=0)),
            }
            for model in MODELS:
                taggram, _, features = mx.extractor(path, model=model, input_length=3,
                                                    input_overlap=False, extract_features=True)
                entry = {
                    "taggram": _r5(taggram),
                    "max_pool_mean": _r5(features["max_pool"].astype(np.float64).mean(axis=0)),
                    "mean_pool_mean": _r5(features["mean_pool"].astype(np.float64).mean(axis=0)),
                }
                if name == PATCH_CLIP:
                    entry["max_pool"] = _r5(features["max_pool"])
                    entry["mean_pool"] = _r5(features["mean_pool"])
                result["models"][model][name] = entry
                print(f"{name} {model}: {taggram.shape[0]} patches", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{OUT}: {OUT.stat().st_size / 1024:.0f} KB (musicnn from {Path(musicnn.__file__).parent})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
