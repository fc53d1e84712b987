"""musicnn (Pons & Serra, 2019) in Keras 3, loading the original TF1 checkpoints.

A port of the ``MSD_musicnn`` and ``MTT_musicnn`` auto-tagging models (and of
the VGG baselines ``MSD_vgg`` and ``MTT_vgg``, :mod:`.vgg`: same front end and
patches, same output keys, 640-d pools and a 1280-d embedding) of the
PyPI package ``musicnn`` 0.1.0 (ISC licence, (c) Music Technology Group,
Universitat Pompeu Fabra 2019, code by Jordi Pons): the same log-mel front end
(without librosa), the same network as a Keras functional model with named
layers, a loader that maps the package's TF1 checkpoint variables onto those
layers, and a converter that writes a backbone folder.

Modules: :mod:`.frontend` (log-mel, patches; NumPy), :mod:`.vgg` (the VGG
taggers), :mod:`.network` (the Keras model, :func:`patch_runner` and
:func:`musicnn_embed`), :mod:`.folder`
(folder format and :func:`load_musicnn`), :mod:`.convert` (TF1 checkpoint ->
backbone folder; command line ``mirex import-musicnn``).

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

from ...constants import MTT_LABELS
from .convert import convert_musicnn, load_musicnn_checkpoint
from .folder import (ARCHITECTURES, FORMAT, MANIFEST_NAME, MODELS, MSD_LABELS, SOURCE_PACKAGE,
                     WEIGHTS_NAME, load_musicnn, read_musicnn_manifest)
from .frontend import (HOP_LENGTH, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE, log_compress, logmel,
                       make_patches, mel_filterbank, melspectrogram, patch_frames,
                       power_spectrogram)
from .network import (BATCH_PATCHES, DEFAULT_CONFIG, build_musicnn, feature_model, musicnn_embed,
                      patch_runner)
from .vgg import VGG_CONFIG, VGG_POOLS, build_musicnn_vgg, is_vgg, vgg_config, vgg_feature_model

__all__ = [
    "SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "PATCH_FRAMES", "BATCH_PATCHES", "FORMAT",
    "MANIFEST_NAME", "WEIGHTS_NAME", "SOURCE_PACKAGE",
    "MSD_LABELS", "MTT_LABELS", "MODELS", "ARCHITECTURES", "DEFAULT_CONFIG", "VGG_CONFIG",
    "VGG_POOLS", "vgg_config",
    "mel_filterbank", "power_spectrogram", "melspectrogram", "log_compress", "logmel",
    "patch_frames", "make_patches",
    "build_musicnn", "build_musicnn_vgg", "is_vgg", "vgg_feature_model", "feature_model",
    "patch_runner", "load_musicnn_checkpoint",
    "convert_musicnn", "load_musicnn", "read_musicnn_manifest", "musicnn_embed",
]
