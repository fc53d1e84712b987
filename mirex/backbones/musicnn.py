"""musicnn (Pons & Serra, 2019) in Keras 3, loading the original TF1 checkpoints.

A port of the ``MSD_musicnn`` and ``MTT_musicnn`` auto-tagging models of the
PyPI package ``musicnn`` 0.1.0 (ISC licence, (c) Music Technology Group,
Universitat Pompeu Fabra 2019, code by Jordi Pons): the same log-mel front end
(without librosa), the same network as a Keras functional model with named
layers, a loader that maps the package's TF1 checkpoint variables onto those
layers, and a converter that writes a backbone folder.

Conventions
-----------
- Audio: mono ``float32`` at :data:`SAMPLE_RATE` = 16000 Hz, nominally in
  [-1, 1]. Files are decoded and resampled by :func:`mirex.audio.load` (soxr);
  the original used ``librosa.load`` (resampy), so files that are not at
  16 kHz differ slightly; 16-kHz files give the same samples.
- Log-mel spectrogram: shape ``(n_frames, 96)``, ``float32``, frame ``t``
  centred on sample ``256 t`` (``n_frames = 1 + n_samples // 256``).
  Power spectrogram of a periodic-Hann 512-point STFT, hop 256, zero-padded
  by 256 samples at both ends (librosa 0.9.2's ``center=True``,
  ``pad_mode='constant'``); 96 Slaney-scale, Slaney-normalised mel bands
  from 0 to 8000 Hz; rounded to ``float16`` (as musicnn stores it) and
  compressed as ``log10(10000 x + 1)`` in ``float32``.
- Patches: ``(n_patches, 187, 96)``; 187 frames = 3 s, cut from frame 0 on
  with no overlap, the tail that does not fill a patch is dropped (as
  ``musicnn.extractor`` with ``input_length=3, input_overlap=False``). A clip
  shorter than one patch (under 2.98 s) is repeat-padded to one patch (the
  original fails on it; its training used repeat-padding).
- Per patch: ``taggram`` (50 sigmoid tag likelihoods); ``max_pool`` and
  ``mean_pool`` (753 each), the maximum and the mean over the patch's frames
  of the mid-end features (561 front-end + 3 x 64 mid-end channels);
  ``penultimate`` (200), the batch-normalised hidden dense layer.
- Per clip (:func:`musicnn_embed`): the mean over the clip's patches of each
  per-patch vector; ``embedding`` = ``[max_pool, mean_pool]`` (1506), the
  vector a classifier is trained on. This matches the harness's SampleCNN
  convention (the clip embedding is the mean of its segments' features).

Known difference from musicnn 0.1.0: its extractor returns the *first* patch's
``penultimate`` (and ``cnn1..3``) for every patch (a variable mix-up in its
batching loop); here each patch gets its own. Its ``taggram``, ``max_pool``
and ``mean_pool`` are right and are what this port is checked against.

A backbone folder (:func:`convert_musicnn`) holds ``model.weights.h5`` and a
``manifest.json`` of format ``"musicnn-backbone/1"``.

Example
-------
>>> model, manifest = load_musicnn("models/musicnn-msd")        # doctest: +SKIP
>>> out = musicnn_embed(model, "clip.wav")                       # doctest: +SKIP
>>> out["taggram"].shape, out["embedding"].shape                 # doctest: +SKIP
((10, 50), (1506,))
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import weakref
import zipfile
from pathlib import Path

import numpy as np

from ..constants import MAX_DURATION, MSD_TAGS

__all__ = [
    "SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "PATCH_FRAMES", "FORMAT",
    "MSD_LABELS", "MTT_LABELS", "MODELS", "DEFAULT_CONFIG",
    "mel_filterbank", "power_spectrogram", "melspectrogram", "log_compress", "logmel",
    "patch_frames", "make_patches",
    "build_musicnn", "feature_model", "load_musicnn_checkpoint", "convert_musicnn",
    "load_musicnn", "musicnn_embed",
]

#: Sample rate of the musicnn input, in Hz.
SAMPLE_RATE = 16000
#: STFT size and hop, in samples (32 ms and 16 ms at 16 kHz).
N_FFT = 512
HOP_LENGTH = 256
#: Mel bands.
N_MELS = 96
#: Frames per 3-s patch: ``floor((3 * 16000 - 512 // 2) / 256) + 1``.
PATCH_FRAMES = 187
#: Inference batch, in patches (bounds memory: some 30 MB of activations per patch).
BATCH_PATCHES = 16

FORMAT = "musicnn-backbone/1"
MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "model.weights.h5"

#: Last.fm top-50 tags of the MSD models, in output order.
MSD_LABELS = tuple(MSD_TAGS)
#: MagnaTagATune top-50 tags of the MTT models, in output order.
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)

#: Architecture of ``MSD_musicnn`` and ``MTT_musicnn`` (``MSD_musicnn_big``
#: has ``n_filt_midend=512, n_units_backend=500``).
DEFAULT_CONFIG = {
    "n_outputs": 50,
    "n_mels": N_MELS,
    "frontend_scale": 1.6,
    "n_filt_midend": 64,
    "n_units_backend": 200,
}

#: The checkpoints this module converts: folder in the package -> facts.
MODELS = {
    "MSD_musicnn": {"name": "musicnn-msd", "labels": MSD_LABELS,
                    "data": "Million Song Dataset audio, Last.fm top-50 tags"},
    "MTT_musicnn": {"name": "musicnn-mtt", "labels": MTT_LABELS,
                    "data": "MagnaTagATune, top-50 tags"},
}

SOURCE_PACKAGE = "musicnn==0.1.0"


# ---------------------------------------------------------------------------
# Front end: log-mel spectrogram and patches (NumPy only)
# ---------------------------------------------------------------------------

def _hz_to_mel(freqs: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    freqs = np.asarray(freqs, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = freqs / f_sp
    high = freqs >= min_log_hz
    return np.where(high, min_log_mel + np.log(np.maximum(freqs, 1e-10) / min_log_hz) / logstep,
                    mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)),
                    f_sp * mels)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-style mel filterbank, as ``librosa.filters.mel`` (htk=False, norm='slaney').

    Triangles between ``n_mels + 2`` band edges equally spaced on the Slaney
    mel scale from ``fmin`` to ``fmax``, each scaled by
    ``2 / (upper_edge_hz - lower_edge_hz)`` (about constant energy per band).

    Parameters
    ----------
    sr : int > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size in samples.
    n_mels : int > 0
        Number of bands.
    fmin, fmax : float
        Lowest and highest edge in Hz; ``fmax`` defaults to ``sr / 2``.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - fft_freqs[np.newaxis, :]
    lower = -ramps[:-2] / widths[:-1, np.newaxis]
    upper = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (edges[2:] - edges[:-2])
    return (weights * enorm[:, np.newaxis]).astype(np.float32)


def _periodic_hann(n: int) -> np.ndarray:
    """``scipy.signal.get_window('hann', n, fftbins=True)``, float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def power_spectrogram(y: np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """``|STFT|**2`` with centred frames, as librosa 0.9.2's defaults.

    The signal is zero-padded by ``n_fft // 2`` samples at both ends, cut
    into frames of ``n_fft`` samples every ``hop_length``, multiplied by a
    periodic Hann window and transformed in float64; the magnitude is taken
    in complex64 / float32, as librosa does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples (any rate).

    Returns
    -------
    power : np.ndarray [shape=(1 + n // hop_length, 1 + n_fft // 2), dtype=float32]
        Frame ``t`` is centred on sample ``t * hop_length``.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got {y.shape}")
    padded = np.pad(y, n_fft // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * _periodic_hann(n_fft), axis=-1).astype(np.complex64)
    return np.abs(spectrum) ** 2


def melspectrogram(y: np.ndarray, sr: int = SAMPLE_RATE, n_fft: int = N_FFT,
                   hop_length: int = HOP_LENGTH, n_mels: int = N_MELS) -> np.ndarray:
    """Mel power spectrogram, as ``librosa.feature.melspectrogram(...).T`` (librosa 0.9.2).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at ``sr`` Hz.

    Returns
    -------
    mel : np.ndarray [shape=(1 + n // hop_length, n_mels), dtype=float32]
        Power (squared magnitude) per mel band, time first.
    """
    return power_spectrogram(y, n_fft, hop_length) @ mel_filterbank(sr, n_fft, n_mels).T


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's compression: round to float16, then ``log10(10000 x + 1)`` in float32.

    musicnn 0.1.0 stores the mel spectrogram as ``float16`` and applies the
    logarithm to it; under NumPy < 2 that arithmetic promotes to float32,
    which is what is done here explicitly (NumPy 2 would keep float16).

    Parameters
    ----------
    mel : np.ndarray [shape=(n_frames, n_mels)]
        Mel power spectrogram.

    Returns
    -------
    logmel : np.ndarray [shape=(n_frames, n_mels), dtype=float32]
    """
    rounded = np.asarray(mel).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * rounded + np.float32(1.0))


def logmel(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The network's input representation of a 16-kHz clip.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at 16000 Hz.
    sr : int
        Must be 16000: the models were trained at that rate.

    Returns
    -------
    logmel : np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
    """
    if sr != SAMPLE_RATE:
        raise ValueError(f"musicnn needs {SAMPLE_RATE} Hz audio, got {sr} Hz; resample first")
    return log_compress(melspectrogram(y, sr))


def patch_frames(seconds: float = 3.0, sr: int = SAMPLE_RATE, n_fft: int = N_FFT,
                 hop_length: int = HOP_LENGTH) -> int:
    """Frames in a patch of ``seconds``, as musicnn computes it (3 s -> 187).

    ``librosa.time_to_frames(seconds, sr, hop_length, n_fft) + 1``, i.e.
    ``floor((seconds * sr - n_fft // 2) / hop_length) + 1``.
    """
    return int(np.floor((int(seconds * sr) - n_fft // 2) / hop_length)) + 1


def make_patches(logmel_: np.ndarray, n_frames: int = PATCH_FRAMES,
                 hop_frames: int | None = None) -> np.ndarray:
    """Cut a log-mel spectrogram into patches, as ``musicnn.extractor.batch_data``.

    Parameters
    ----------
    logmel_ : np.ndarray [shape=(T, n_mels)]
        Spectrogram, time first.
    n_frames : int > 0
        Frames per patch (187 = 3 s).
    hop_frames : int > 0 or None
        Frames between patch starts; ``None`` means ``n_frames`` (no overlap).

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, n_frames, n_mels), dtype=float32]
        Patches starting at frames ``0, hop, 2 hop, ...`` while a whole patch
        fits; a spectrogram shorter than one patch is repeated (tiled) up to
        one patch.
    """
    logmel_ = np.asarray(logmel_, dtype=np.float32)
    if logmel_.ndim != 2 or logmel_.shape[0] == 0:
        raise ValueError(f"expected a non-empty (T, n_mels) spectrogram, got {logmel_.shape}")
    hop_frames = n_frames if hop_frames is None else int(hop_frames)
    if logmel_.shape[0] < n_frames:
        reps = -(-n_frames // logmel_.shape[0])
        return np.tile(logmel_, (reps, 1))[np.newaxis, :n_frames]
    starts = range(0, logmel_.shape[0] - n_frames + 1, hop_frames)
    return np.stack([logmel_[s : s + n_frames] for s in starts])


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

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
    timbral, temporal = _frontend_layout(config)

    def bn(prefix):
        return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.99, name=f"{prefix}_bn")

    def freq_max(x, prefix, filters):
        x = layers.MaxPooling2D(pool_size=(1, x.shape[2]), name=f"{prefix}_pool")(x)
        return layers.Reshape((-1, filters), name=f"{prefix}_squeeze")(x)

    inputs = keras.Input(shape=(n_frames, n_mels), name="logmel")
    x = layers.Reshape((-1, n_mels, 1), name="expand")(inputs)
    x = bn("input")(x)
    x_pad = layers.ZeroPadding2D(padding=((3, 3), (0, 0)), name="timbral_pad")(x)
    branches = []
    for prefix, filters, kernel in timbral:
        y = layers.Conv2D(filters, kernel, padding="valid", activation="relu",
                          name=f"{prefix}_conv")(x_pad)
        branches.append(freq_max(bn(prefix)(y), prefix, filters))
    for prefix, filters, kernel in temporal:
        y = layers.Conv2D(filters, kernel, padding="same", activation="relu",
                          name=f"{prefix}_conv")(x)
        branches.append(freq_max(bn(prefix)(y), prefix, filters))
    frontend = layers.Concatenate(axis=-1, name="frontend")(branches)

    levels, y = [frontend], frontend
    for i in (1, 2, 3):
        z = layers.ZeroPadding1D(3, name=f"midend{i}_pad")(y)
        z = layers.Conv1D(n_filt_midend, 7, padding="valid", activation="relu",
                          name=f"midend{i}_conv")(z)
        z = bn(f"midend{i}")(z)
        y = z if i == 1 else layers.Add(name=f"midend{i}_res")([z, y])
        levels.append(y)
    features = layers.Concatenate(axis=-1, name="midend_features")(levels)

    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    x = layers.Concatenate(axis=-1, name="pool")([max_pool, mean_pool])
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name="pool_bn")(x)
    x = layers.Dropout(0.5, name="pool_dropout")(x)
    x = layers.Dense(n_units_backend, activation="relu", name="penultimate_dense")(x)
    x = bn("penultimate")(x)
    x = layers.Dropout(0.5, name="penultimate_dropout")(x)
    x = layers.Dense(n_outputs, name="logits")(x)
    outputs = layers.Activation("sigmoid", name="taggram")(x)
    return keras.Model(inputs, outputs, name=name)


def feature_model(model):
    """The same network with the outputs musicnn extracts, per patch.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_musicnn`.

    Returns
    -------
    keras.Model
        Input as ``model``; outputs a dict: ``taggram`` ``(batch, n_outputs)``,
        ``max_pool`` and ``mean_pool`` ``(batch, 753)``, ``penultimate``
        ``(batch, 200)``.
    """
    import keras

    outputs = {
        "taggram": model.get_layer("taggram").output,
        "max_pool": model.get_layer("max_pool").output,
        "mean_pool": model.get_layer("mean_pool").output,
        "penultimate": model.get_layer("penultimate_bn").output,
    }
    return keras.Model(model.input, outputs, name=f"{model.name}_features")


# ---------------------------------------------------------------------------
# TF1 checkpoint -> Keras
# ---------------------------------------------------------------------------

def _checkpoint_plan(model) -> list[tuple[str, str]]:
    """``(tf1_scope, keras_layer)`` pairs in TF1 variable-creation order."""
    bn_layers = ["input_bn"]
    conv_layers = []
    for prefix in ("timbral_40", "timbral_70", "temporal_128", "temporal_64", "temporal_32"):
        conv_layers.append(f"{prefix}_conv")
        bn_layers.append(f"{prefix}_bn")
    for i in (1, 2, 3):
        conv_layers.append(f"midend{i}_conv")
        bn_layers.append(f"midend{i}_bn")
    bn_layers += ["pool_bn", "penultimate_bn"]
    plan = [(f"batch_normalization{'_' + str(i) if i else ''}", name)
            for i, name in enumerate(bn_layers)]
    plan += [(f"conv2d{'_' + str(i) if i else ''}", name) for i, name in enumerate(conv_layers)]
    plan += [("dense", "penultimate_dense"), ("dense_1", "logits")]
    return plan


def _pool_permutation(n_features: int) -> np.ndarray:
    """Keras ``pool`` index -> TF1 flattened-pool index.

    musicnn concatenates ``max_pool`` and ``mean_pool`` on a new last axis
    and flattens, so its 1506 inputs interleave ``[max_0, mean_0, max_1,
    mean_1, ...]``; the Keras ``pool`` layer is ``[max_0 .. max_752,
    mean_0 .. mean_752]``.
    """
    return np.concatenate([2 * np.arange(n_features), 2 * np.arange(n_features) + 1])


def load_musicnn_checkpoint(model, checkpoint_prefix: str | os.PathLike) -> dict:
    """Copy a musicnn TF1 checkpoint into a model from :func:`build_musicnn`.

    The TF1 graph names its variables by creation order
    (``conv2d``, ``conv2d_1``, ...; ``batch_normalization``, ``_1``, ...):

    ==========================  =====================  ===========================
    TF1 variables               shape (MSD/MTT)        Keras layer (weights)
    ==========================  =====================  ===========================
    batch_normalization/*       (1,)                   input_bn
    conv2d/kernel, bias         (7, 38, 1, 204)        timbral_40_conv
    batch_normalization_1/*     (204,)                 timbral_40_bn
    conv2d_1                    (7, 67, 1, 204)        timbral_70_conv
    batch_normalization_2/*     (204,)                 timbral_70_bn
    conv2d_2                    (128, 1, 1, 51)        temporal_128_conv
    batch_normalization_3/*     (51,)                  temporal_128_bn
    conv2d_3 / _4               (64|32, 1, 1, 51)      temporal_64_conv / temporal_32_conv
    batch_normalization_4 / _5  (51,)                  temporal_64_bn / temporal_32_bn
    conv2d_5                    (7, 561, 1, 64)        midend1_conv (Conv1D: kernel[:, :, 0, :])
    batch_normalization_6/*     (64,)                  midend1_bn
    conv2d_6 / _7               (7, 64, 1, 64)         midend2_conv / midend3_conv (idem)
    batch_normalization_7 / _8  (64,)                  midend2_bn / midend3_bn
    batch_normalization_9/*     (1506,)                pool_bn (entries permuted, see below)
    dense/kernel, bias          (1506, 200)            penultimate_dense (rows permuted)
    batch_normalization_10/*    (200,)                 penultimate_bn
    dense_1/kernel, bias        (200, 50)              logits
    ==========================  =====================  ===========================

    Batch norm ``gamma, beta, moving_mean, moving_variance`` go to the Keras
    weights of the same names. The 2-d mid-end convolutions span the whole
    feature axis, so they are 1-d convolutions over time with the features as
    input channels. musicnn's flattened pool interleaves max and mean
    (``[max_0, mean_0, max_1, ...]``) where the Keras ``pool`` layer
    concatenates them, so ``pool_bn``'s vectors and ``penultimate_dense``'s
    kernel rows are taken in the order ``[0, 2, 4, ..., 1, 3, 5, ...]``.
    Adam slots, ``beta1_power`` and ``beta2_power`` are training state and
    are ignored.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_musicnn` with the checkpoint's sizes.
    checkpoint_prefix : str or path-like
        The checkpoint prefix: the model folder followed by ``/``, e.g.
        ``.../musicnn/MSD_musicnn/`` (its files are ``.index`` and
        ``.data-00000-of-00001``). A folder path without the slash is accepted.

    Returns
    -------
    mapping : dict
        Keras ``layer/weight`` -> TF1 variable name, for every weight set.

    Raises
    ------
    ValueError
        If a variable is missing, has the wrong shape, or a model weight or
        a checkpoint variable is left over.
    """
    from tensorflow.python.training import py_checkpoint_reader

    prefix = os.fspath(checkpoint_prefix)
    if os.path.isdir(prefix) and not prefix.endswith(os.sep):
        prefix += os.sep
    reader = py_checkpoint_reader.NewCheckpointReader(prefix)
    shapes = reader.get_variable_to_shape_map()
    wanted = {k for k in shapes
              if "Adam" not in k and k not in ("beta1_power", "beta2_power", "global_step")}
    used, mapping = set(), {}

    def tensor(name):
        if name not in shapes:
            raise ValueError(f"{prefix}: checkpoint has no variable {name!r}")
        used.add(name)
        return reader.get_tensor(name)

    def assign(variable, value, tf_name):
        value = np.asarray(value, dtype=np.float32)
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{tf_name} has shape {value.shape}, Keras "
                             f"{variable.path} expects {tuple(variable.shape)}")
        variable.assign(value)
        mapping[variable.path] = tf_name

    n_pool = model.get_layer("max_pool").output.shape[-1]
    perm = _pool_permutation(n_pool)
    for scope, layer_name in _checkpoint_plan(model):
        layer = model.get_layer(layer_name)
        if scope.startswith("batch_normalization"):
            for attr in ("gamma", "beta", "moving_mean", "moving_variance"):
                value = tensor(f"{scope}/{attr}")
                if layer_name == "pool_bn":
                    value = value[perm]
                assign(getattr(layer, attr), value, f"{scope}/{attr}")
            continue
        kernel, bias = tensor(f"{scope}/kernel"), tensor(f"{scope}/bias")
        if layer_name.startswith("midend"):
            if kernel.ndim != 4 or kernel.shape[2] != 1:
                raise ValueError(f"{scope}/kernel: expected (7, C, 1, F), got {kernel.shape}")
            kernel = kernel[:, :, 0, :]
        if layer_name == "penultimate_dense":
            kernel = kernel[perm]
        assign(layer.kernel, kernel, f"{scope}/kernel")
        assign(layer.bias, bias, f"{scope}/bias")
    unused = sorted(wanted - used)
    if unused:
        raise ValueError(f"{prefix}: checkpoint variables not mapped: {unused}")
    unset = [w.path for w in model.weights if w.path not in mapping]
    if unset:
        raise ValueError(f"model weights not found in the checkpoint: {unset}")
    return mapping


def _find_checkpoint(source: Path, which: str, workdir: Path) -> Path:
    """Checkpoint folder (holding ``.index``) for ``which`` under ``source``."""
    if source.is_file() and source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(f"musicnn/{which}/")]
            if not members:
                raise FileNotFoundError(f"{source}: no musicnn/{which}/ in the wheel")
            wheel.extractall(workdir, members)
        return workdir / "musicnn" / which
    for candidate in (source, source / which, source / "musicnn" / which):
        if (candidate / ".index").is_file():
            return candidate
    raise FileNotFoundError(f"{source}: no {which} checkpoint (a folder with '.index') found; "
                            "give the musicnn package folder, its wheel or the checkpoint folder")


def convert_musicnn(package_dir_or_ckpt: str | os.PathLike, out_dir: str | os.PathLike,
                    which: str = "MSD_musicnn", command: str | None = None) -> dict:
    """Convert a musicnn 0.1.0 checkpoint into a backbone folder.

    Parameters
    ----------
    package_dir_or_ckpt : str or path-like
        The installed ``musicnn`` package folder (holding ``MSD_musicnn/``
        ...), a folder above it (site-packages), the downloaded wheel
        ``musicnn-0.1.0-py3-none-any.whl``, or the checkpoint folder itself.
    out_dir : str or path-like
        Backbone folder to write (created): ``model.weights.h5`` (Keras 3)
        and ``manifest.json``.
    which : {'MSD_musicnn', 'MTT_musicnn'}
        Which model.
    command : str or None
        Command line recorded in the provenance (default: this process's).

    Returns
    -------
    manifest : dict
        The manifest written (format ``"musicnn-backbone/1"``).
    """
    from . import sha256_file
    from ..lists import atomic_write_text

    if which not in MODELS:
        raise ValueError(f"which must be one of {sorted(MODELS)}, got {which!r}")
    facts = MODELS[which]
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="musicnn-") as tmp:
        ckpt = _find_checkpoint(Path(package_dir_or_ckpt), which, Path(tmp))
        model = build_musicnn(**DEFAULT_CONFIG, name=facts["name"].replace("-", "_"))
        load_musicnn_checkpoint(model, ckpt)
        data_sha = sha256_file(ckpt / ".data-00000-of-00001")
    out.mkdir(parents=True, exist_ok=True)
    tmp_weights = out / f".tmp-{os.getpid()}.weights.h5"
    model.save_weights(tmp_weights)
    os.replace(tmp_weights, out / WEIGHTS_NAME)
    manifest = {
        "format": FORMAT,
        "name": facts["name"],
        "architecture": "musicnn",
        "config": dict(DEFAULT_CONFIG),
        "sample_rate": SAMPLE_RATE,
        "frontend": {
            "n_fft": N_FFT, "hop_length": HOP_LENGTH, "window": "hann (periodic)",
            "center": "zero-padded by n_fft // 2", "n_mels": N_MELS, "fmin": 0.0,
            "fmax": SAMPLE_RATE / 2, "mel_scale": "slaney", "mel_norm": "slaney",
            "power": 2.0, "compression": "log10(10000 * float16(mel) + 1)",
            "patch_frames": PATCH_FRAMES, "patch_hop_frames": PATCH_FRAMES,
        },
        "labels": list(facts["labels"]),
        "outputs": {"taggram": len(facts["labels"]), "max_pool": 753, "mean_pool": 753,
                    "penultimate": DEFAULT_CONFIG["n_units_backend"], "embedding": 1506},
        "trained": True,
        "weights": {"file": WEIGHTS_NAME, "sha256": sha256_file(out / WEIGHTS_NAME)},
        "provenance": {
            "source": f"PyPI package {SOURCE_PACKAGE}",
            "licence": "ISC",
            "copyright": "Music Technology Group, Universitat Pompeu Fabra 2019; "
                         "code by Jordi Pons",
            "paper": "Pons & Serra, musicnn: pre-trained convolutional neural networks "
                     "for music audio tagging, ISMIR 2019 late-breaking/demo",
            "checkpoint": f"musicnn/{which}/",
            "checkpoint_data_sha256": data_sha,
            "training_data": facts["data"],
            "converter": "mirex.backbones.musicnn.convert_musicnn",
            "command": command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        },
    }
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_musicnn(path: str | os.PathLike, verify: bool = True):
    """Build the model of a musicnn backbone folder, with its weights.

    Parameters
    ----------
    path : str or path-like
        Folder written by :func:`convert_musicnn`.
    verify : bool
        Check the weights file against the manifest's sha256.

    Returns
    -------
    model : keras.Model
        As :func:`build_musicnn`, weights loaded.
    manifest : dict
        The parsed manifest.

    Raises
    ------
    mirex.backbones.BackboneError
        If the folder is not a musicnn backbone or its weights do not match.
    """
    from . import BackboneError, sha256_file

    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackboneError(f"{folder}: not a backbone folder (no {MANIFEST_NAME})") from None
    except (OSError, ValueError) as exc:
        raise BackboneError(f"{folder / MANIFEST_NAME}: unreadable manifest ({exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("architecture") != "musicnn":
        raise BackboneError(f"{folder / MANIFEST_NAME}: not a {FORMAT} musicnn manifest")
    weights = folder / manifest["weights"]["file"]
    if not weights.is_file():
        raise BackboneError(f"{weights}: weights file missing")
    if verify and sha256_file(weights) != manifest["weights"]["sha256"]:
        raise BackboneError(f"{weights}: sha256 differs from the manifest (corrupt or replaced)")
    model = build_musicnn(**manifest["config"], name=manifest["name"].replace("-", "_"))
    model.load_weights(weights)
    return model, manifest


# ---------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------

_RUNNERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _runner(model):
    """A traced inference function for ``model``'s feature outputs (cached per model)."""
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
        Per patch (3-s patches, see module docstring):

        - ``taggram`` ``(n_patches, n_outputs)``: sigmoid tag likelihoods.
        - ``patch_max_pool``, ``patch_mean_pool`` ``(n_patches, 753)``.
        - ``patch_penultimate`` ``(n_patches, 200)``.

        Per clip, the mean over patches of the above:

        - ``tags`` ``(n_outputs,)`` (what musicnn's ``top_tags`` ranks),
        - ``max_pool`` ``(753,)``, ``mean_pool`` ``(753,)``,
          ``penultimate`` ``(200,)``,
        - ``embedding`` ``(1506,)`` = ``[max_pool, mean_pool]``.
    """
    if isinstance(path_or_audio, np.ndarray):
        y = np.asarray(path_or_audio, dtype=np.float32)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"expected non-empty mono samples of shape (n,), got {y.shape}")
    else:
        from ..audio import load

        y = load(path_or_audio, sr=SAMPLE_RATE, max_duration=max_duration)
    n_frames = model.input_shape[1] or PATCH_FRAMES
    patches = make_patches(logmel(y), n_frames)
    run = _runner(model)
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


# ---------------------------------------------------------------------------
# Command line: python -m mirex.backbones.musicnn convert SOURCE OUT_DIR --which ...
# ---------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mirex.backbones.musicnn",
        description="Convert musicnn 0.1.0 TF1 checkpoints into Keras 3 backbone folders.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    conv = sub.add_parser("convert", help="write a backbone folder from a checkpoint")
    conv.add_argument("source", help="musicnn wheel, package folder or checkpoint folder")
    conv.add_argument("out_dir", help="backbone folder to write, e.g. models/musicnn-msd")
    conv.add_argument("--which", default="MSD_musicnn", choices=sorted(MODELS))
    tag = sub.add_parser("tag", help="print a clip's top tags")
    tag.add_argument("backbone")
    tag.add_argument("audio")
    tag.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    if args.cmd == "convert":
        command = ("python -m mirex.backbones.musicnn convert "
                   f"{Path(args.source).name} {args.out_dir} --which {args.which}")
        manifest = convert_musicnn(args.source, args.out_dir, args.which, command=command)
        print(f"{args.out_dir}: {manifest['name']} ({manifest['weights']['sha256'][:12]})")
    else:
        model, manifest = load_musicnn(args.backbone)
        tags = musicnn_embed(model, args.audio)["tags"]
        for i in np.argsort(tags)[::-1][: args.top]:
            print(f"{tags[i]:.3f}  {manifest['labels'][i]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
