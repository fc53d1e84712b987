"""musicnn port: front end, checkpoint mapping and agreement with musicnn 0.1.0.

The reference numbers in ``tests/data/musicnn_reference.json`` were made by
running the original package (``musicnn==0.1.0`` with TensorFlow 2.15 and
librosa 0.9.2) on the clips that :func:`reference_clips` synthesises, with
``tools/musicnn_reference.py``. The port is checked with the converted weights
committed in ``models/musicnn-msd`` and ``models/musicnn-mtt``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "musicnn_reference.json"
MODELS_DIR = HERE.parent / "models"
BACKBONES = {"MSD_musicnn": MODELS_DIR / "musicnn-msd", "MTT_musicnn": MODELS_DIR / "musicnn-mtt"}
#: Every committed conversion of the wheel's checkpoints (the VGG ones: test_musicnn_vgg.py).
CONVERTED = {**BACKBONES, "MSD_vgg": MODELS_DIR / "musicnn-vgg-msd",
             "MTT_vgg": MODELS_DIR / "musicnn-vgg-mtt"}

# ---------------------------------------------------------------------------
# Deterministic reference clips.  tools/musicnn_reference.py imports this file
# by path and calls reference_clips() in the reference venv (numpy < 2), so
# the section uses numpy only, and only generator calls whose streams numpy
# keeps stable (PCG64 random() and standard_normal()).
# ---------------------------------------------------------------------------

CLIP_SR = 16000


def _harmonic_tone(freq, n, sr, n_harmonics=6, rolloff=1.0, decay=None):
    """Additive tone: harmonics k=1..n_harmonics with amplitude k**-rolloff."""
    t = np.arange(n) / sr
    y = np.zeros(n)
    for k in range(1, n_harmonics + 1):
        if k * freq >= sr / 2:
            break
        partial = np.sin(2 * np.pi * k * freq * t) / k ** rolloff
        if decay is not None:
            partial *= np.exp(-t * decay * (1 + 0.7 * (k - 1)))
        y += partial
    return y


def _place(out, event, start):
    """Add ``event`` into ``out`` from sample ``start`` on (clipped at the end)."""
    stop = min(len(out), start + len(event))
    if start < stop:
        out[start:stop] += event[: stop - start]


def _to_int16(y, peak=0.6):
    y = y / np.max(np.abs(y)) * peak
    return np.round(y * 32767).astype(np.int16)


def _clip_chords_drums(seed, seconds=10.0, sr=CLIP_SR):
    """I-V-vi-IV chords (additive voices, bass) with kick, snare and hats at 120 BPM."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n)
    chords = [(48, 60, 64, 67), (43, 59, 62, 67), (45, 60, 64, 69), (41, 60, 65, 69)]
    bar = int(2.0 * sr)
    for i, start in enumerate(range(0, n, bar)):
        for j, midi in enumerate(chords[i % 4]):
            freq = 440.0 * 2 ** ((midi - 69) / 12) * (1 + 0.002 * (rng.random() - 0.5))
            tone = _harmonic_tone(freq, bar, sr, n_harmonics=8, rolloff=1.2)
            env = np.minimum(1, np.arange(bar) / (0.02 * sr)) * np.exp(-np.arange(bar) / (1.5 * sr))
            _place(y, (0.5 if j == 0 else 0.25) * tone * env, start)
    beat = int(0.5 * sr)
    t_kick = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t_kick / 0.03)) / sr) * np.exp(-t_kick / 0.12)
    for k, start in enumerate(range(0, n, beat)):
        jitter = int(0.004 * sr * (rng.random() - 0.5))
        start = max(0, start + jitter)
        if k % 2 == 0:
            _place(y, 0.9 * kick, start)
        else:
            m = int(0.2 * sr)
            t = np.arange(m) / sr
            snare = (0.5 * rng.standard_normal(m) + 0.3 * np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.06)
            _place(y, snare, start)
        for half in (0, beat // 2):
            m = int(0.05 * sr)
            hat = np.diff(rng.standard_normal(m + 1)) * np.exp(-np.arange(m) / (0.012 * sr))
            _place(y, 0.15 * hat, start + half)
    return _to_int16(y)


def _clip_noise_tone(seed, seconds=7.0, sr=CLIP_SR):
    """Pink-ish noise with a slow tremolo, a gliding tone and a steady 2 kHz tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    noise = noise / np.std(noise) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    glide = 300 * 3 ** (t / seconds)
    tone = np.sin(2 * np.pi * np.cumsum(glide) / sr)
    steady = 0.3 * np.sin(2 * np.pi * 2000 * t)
    return _to_int16(0.3 * noise + tone + steady)


def _clip_plucked_melody(seed, seconds=8.0, sr=CLIP_SR):
    """A pentatonic plucked melody (decaying harmonics) over a soft low drone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = 0.1 * _harmonic_tone(110.0, n, sr, n_harmonics=4)
    scale = [0, 2, 4, 7, 9, 12, 14, 16]
    start = 0
    while start < n:
        midi = 64 + scale[int(rng.random() * len(scale))]
        length = int((0.25 if rng.random() < 0.6 else 0.5) * sr)
        freq = 440.0 * 2 ** ((midi - 69) / 12)
        _place(y, _harmonic_tone(freq, int(1.0 * sr), sr, n_harmonics=10, rolloff=0.8, decay=4.0),
               start)
        start += length
    return _to_int16(y)


def reference_clips():
    """The reference clips: name -> int16 mono samples at 16 kHz.

    Returns
    -------
    clips : dict of str -> np.ndarray [shape=(n,), dtype=int16]
        'chords_drums' (10 s, 3 musicnn patches), 'noise_tone' (7 s, 2 patches)
        and 'plucked_melody' (8 s, 2 patches), all at ``CLIP_SR`` = 16000 Hz.
    """
    return {
        "chords_drums": _clip_chords_drums(seed=1),
        "noise_tone": _clip_noise_tone(seed=2),
        "plucked_melody": _clip_plucked_melody(seed=3),
    }


# ---------------------------------------------------------------------------
# Tolerances. The port reached, on these clips (float32 on a 2-core x86 CPU):
# mel power relative 3e-7, log-mel identical, taggram 6e-7, max_pool 9e-5
# (values up to ~150), mean_pool 3e-6. The bounds leave room for other CPUs
# and TensorFlow builds while catching any mapping or front-end mistake.
# ---------------------------------------------------------------------------

MEL_RTOL = 1e-5
LOGMEL_ATOL = 1e-4
TAGGRAM_ATOL = 1e-3
FEATURE_ATOL = 2e-3
MIN_CORRELATION = 0.99999


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clips():
    return reference_clips()


@pytest.fixture(scope="module")
def clip_files(clips, tmp_path_factory):
    import soundfile as sf

    root = tmp_path_factory.mktemp("musicnn_clips")
    paths = {}
    for name, samples in clips.items():
        paths[name] = str(root / f"{name}.wav")
        sf.write(paths[name], samples, CLIP_SR, subtype="PCM_16")
    return paths


@pytest.fixture(scope="module")
def models():
    from mirex.backbones.musicnn import load_musicnn

    return {which: load_musicnn(folder) for which, folder in BACKBONES.items()}


@pytest.fixture(scope="module")
def ports(models, clip_files):
    """The port's musicnn_embed output for every (model, clip)."""
    from mirex.backbones.musicnn import musicnn_embed

    return {(which, name): musicnn_embed(model, path)
            for which, (model, _) in models.items() for name, path in clip_files.items()}


def test_clips_are_the_ones_the_reference_was_made_from(reference, clips):
    assert set(clips) == set(reference["clips"])
    for name, samples in clips.items():
        assert samples.dtype == np.int16 and samples.size == reference["clips"][name]["n_samples"]
        assert hashlib.sha256(samples.tobytes()).hexdigest() == reference["clips"][name]["sha256"], (
            f"{name}: regenerated clip differs from the one musicnn saw; "
            "rerun tools/musicnn_reference.py if the generator was changed on purpose")


# ---------------------------------------------------------------------------
# Front end
# ---------------------------------------------------------------------------

def test_mel_filterbank_is_slaney_shaped():
    from mirex.backbones.musicnn import mel_filterbank

    fb = mel_filterbank()
    assert fb.shape == (96, 257) and fb.dtype == np.float32
    assert (fb >= 0).all() and (fb.max(axis=1) > 0).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()  # centres rise with the band index
    # Slaney normalisation: each triangle's area (in Hz) is 1, up to sampling on 31.25-Hz bins.
    area = fb.sum(axis=1) * (16000 / 512)
    assert np.allclose(area, 1.0, atol=0.1) and np.allclose(area[:30], 1.0, atol=1e-3)
    # Linear below 1 kHz: centres 31.1 Hz apart (8 kHz is 45.25 Slaney mels, / 97 steps).
    np.testing.assert_array_equal(peaks[:20], np.arange(1, 21))


def test_melspectrogram_matches_librosa_092(reference, clips):
    from mirex.backbones.musicnn import melspectrogram

    frames = reference["mel_frames"]
    for name, samples in clips.items():
        mel = melspectrogram(samples.astype(np.float32) / 32768)
        ref = reference["clips"][name]
        assert mel.shape == (ref["n_frames"], 96) and mel.dtype == np.float32
        expected = np.asarray(ref["mel"])
        np.testing.assert_allclose(mel[frames], expected, rtol=MEL_RTOL,
                                   atol=1e-6 * expected.max(), err_msg=name)


def test_logmel_matches_musicnn_batch_data(reference, clips):
    from mirex.backbones.musicnn import logmel

    frames = reference["mel_frames"]
    for name, samples in clips.items():
        spec = logmel(samples.astype(np.float32) / 32768)
        ref = reference["clips"][name]
        np.testing.assert_allclose(spec[frames], ref["logmel"], atol=LOGMEL_ATOL, err_msg=name)
        np.testing.assert_allclose(spec.astype(np.float64).mean(axis=0), ref["logmel_band_mean"],
                                   atol=LOGMEL_ATOL, err_msg=name)


def test_log_compress_rounds_to_float16_first():
    from mirex.backbones.musicnn import log_compress

    x = np.array([[0.1, 1.0, 3.3333]], dtype=np.float32)
    expected = np.log10(10000.0 * x.astype(np.float16).astype(np.float64) + 1.0)
    np.testing.assert_allclose(log_compress(x), expected, rtol=1e-6)
    assert log_compress(x).dtype == np.float32
    assert log_compress(np.float32([[1e-9]]))[0, 0] < 1e-4


def test_patches_follow_musicnn_batching():
    from mirex.backbones.musicnn import PATCH_FRAMES, make_patches, patch_frames

    assert patch_frames(3.0) == PATCH_FRAMES == 187
    spec = np.arange(626 * 96, dtype=np.float32).reshape(626, 96)
    patches = make_patches(spec)
    assert patches.shape == (3, 187, 96)
    np.testing.assert_array_equal(patches[2], spec[374:561])
    assert make_patches(spec, hop_frames=100).shape == (5, 187, 96)
    short = make_patches(spec[:50])  # shorter than a patch: repeated up to one
    assert short.shape == (1, 187, 96)
    np.testing.assert_array_equal(short[0, 50:100], spec[:50])


# ---------------------------------------------------------------------------
# Network and checkpoint mapping
# ---------------------------------------------------------------------------

def test_architecture_has_the_published_size_and_names():
    from mirex.backbones.musicnn import build_musicnn

    model = build_musicnn()
    assert model.count_params() == 792079
    assert model.input_shape == (None, 187, 96) and model.output_shape == (None, 50)
    assert model.get_layer("frontend").output.shape[1:] == (187, 561)
    assert model.get_layer("midend_features").output.shape[1:] == (187, 753)
    assert model.get_layer("timbral_40_conv").kernel.shape == (7, 38, 1, 204)
    assert model.get_layer("timbral_70_conv").kernel.shape == (7, 67, 1, 204)
    assert model.get_layer("midend1_conv").kernel.shape == (7, 561, 64)
    assert model.get_layer("penultimate_dense").kernel.shape == (1506, 200)


def _tf1_variables(model):
    """Export a Keras musicnn as the TF1 variables musicnn's graph would hold."""
    from mirex.backbones.musicnn.convert import _checkpoint_plan, _pool_permutation

    inverse = np.argsort(_pool_permutation(753))
    variables = {}
    for scope, layer_name in _checkpoint_plan(model):
        layer = model.get_layer(layer_name)
        if scope.startswith("batch_normalization"):
            for attr in ("gamma", "beta", "moving_mean", "moving_variance"):
                value = np.asarray(getattr(layer, attr))
                variables[f"{scope}/{attr}"] = value[inverse] if layer_name == "pool_bn" else value
        else:
            kernel = np.asarray(layer.kernel)
            if layer_name.startswith("midend"):
                kernel = kernel[:, :, np.newaxis, :]
            if layer_name == "penultimate_dense":
                kernel = kernel[inverse]
            variables[f"{scope}/kernel"], variables[f"{scope}/bias"] = kernel, np.asarray(layer.bias)
    return variables


def _write_checkpoint(prefix, variables):
    import tensorflow as tf

    names = sorted(variables)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(variables[n]) for n in names])


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = rng.normal(0.0, 0.1, tuple(weight.shape)).astype(np.float32)
        if "variance" in weight.path or "gamma" in weight.path:
            value = np.abs(value) + 0.5
        weight.assign(value)


def test_checkpoint_loader_inverts_the_tf1_layout(tmp_path):
    """A random model written with musicnn's TF1 names and layout loads back exactly."""
    from mirex.backbones.musicnn import build_musicnn, feature_model, load_musicnn_checkpoint

    source = build_musicnn()
    _randomise(source, seed=0)
    variables = _tf1_variables(source)
    variables["beta1_power"] = np.float32(0.9)  # training state, ignored
    variables["conv2d/kernel/Adam"] = variables["conv2d/kernel"]
    _write_checkpoint(tmp_path / "ckpt" / "", variables)
    target = build_musicnn()
    mapping = load_musicnn_checkpoint(target, tmp_path / "ckpt")
    assert len(mapping) == len(target.weights) == 4 * 11 + 2 * 10
    x = np.random.default_rng(1).uniform(0, 4, (2, 187, 96)).astype(np.float32)
    a, b = feature_model(source)(x), feature_model(target)(x)
    for key in ("taggram", "max_pool", "mean_pool", "penultimate"):
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-5, atol=1e-6)

    del variables["dense_1/bias"]
    _write_checkpoint(tmp_path / "broken" / "", variables)
    with pytest.raises(ValueError, match="dense_1/bias"):
        load_musicnn_checkpoint(build_musicnn(), tmp_path / "broken" / "")


def test_checkpoint_loader_rejects_the_wrong_sizes(tmp_path):
    from mirex.backbones.musicnn import build_musicnn, load_musicnn_checkpoint

    variables = _tf1_variables(build_musicnn())
    _write_checkpoint(tmp_path / "ckpt" / "", variables)
    with pytest.raises(ValueError, match="shape"):
        load_musicnn_checkpoint(build_musicnn(n_units_backend=100), tmp_path / "ckpt" / "")


# ---------------------------------------------------------------------------
# Committed backbones and agreement with the original
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", sorted(BACKBONES))
def test_committed_backbone_manifest(which):
    from mirex.backbones import sha256_file
    from mirex.backbones.musicnn import FORMAT, MODELS

    folder = BACKBONES[which]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT and manifest["architecture"] == "musicnn"
    assert manifest["name"] == MODELS[which]["name"] and manifest["sample_rate"] == 16000
    assert tuple(manifest["labels"]) == MODELS[which]["labels"] and len(manifest["labels"]) == 50
    assert manifest["weights"]["sha256"] == sha256_file(folder / manifest["weights"]["file"])
    provenance = manifest["provenance"]
    assert provenance["source"].endswith("musicnn==0.1.0") and provenance["licence"] == "ISC"
    assert provenance["checkpoint"] == f"musicnn/{which}/"


def test_load_musicnn_refuses_altered_weights(tmp_path):
    import shutil

    from mirex.backbones import BackboneError
    from mirex.backbones.musicnn import load_musicnn

    folder = tmp_path / "copy"
    shutil.copytree(BACKBONES["MSD_musicnn"], folder)
    with open(folder / "model.weights.h5", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BackboneError, match="sha256"):
        load_musicnn(folder)
    with pytest.raises(BackboneError, match="no manifest"):
        load_musicnn(tmp_path)


def _top(values, k=5):
    return list(np.argsort(np.asarray(values))[::-1][:k])


@pytest.mark.parametrize("which", sorted(BACKBONES))
def test_taggram_matches_musicnn_010(which, reference, ports):
    for name, ref in reference["models"][which].items():
        out = ports[which, name]
        expected = np.asarray(ref["taggram"])
        assert out["taggram"].shape == expected.shape == (len(expected), 50)
        np.testing.assert_allclose(out["taggram"], expected, atol=TAGGRAM_ATOL, err_msg=name)
        assert _top(out["tags"]) == _top(expected.mean(axis=0)), name
        for patch, row in enumerate(expected):
            assert _top(out["taggram"][patch]) == _top(row), (name, patch)


@pytest.mark.parametrize("which", sorted(BACKBONES))
def test_pooled_features_match_musicnn_010(which, reference, ports):
    for name, ref in reference["models"][which].items():
        out = ports[which, name]
        for key in ("max_pool", "mean_pool"):
            expected = np.asarray(ref[f"{key}_mean"])
            assert out[key].shape == (753,)
            np.testing.assert_allclose(out[key], expected, atol=FEATURE_ATOL, err_msg=(name, key))
            assert np.corrcoef(out[key], expected)[0, 1] > MIN_CORRELATION
            if key in ref:  # per-patch features, stored for one clip
                np.testing.assert_allclose(out[f"patch_{key}"], ref[key], atol=FEATURE_ATOL,
                                           err_msg=(name, key))


def test_embed_outputs_shapes_and_pooling(models, clips, ports):
    from mirex.backbones.musicnn import musicnn_embed

    out = ports["MSD_musicnn", "chords_drums"]
    assert out["taggram"].shape == (3, 50) and out["tags"].shape == (50,)
    assert out["patch_penultimate"].shape == (3, 200) and out["penultimate"].shape == (200,)
    np.testing.assert_allclose(out["max_pool"], out["patch_max_pool"].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(out["embedding"], np.concatenate([out["max_pool"],
                                                                    out["mean_pool"]]))
    # each patch has its own penultimate (musicnn 0.1.0 repeats the first one)
    assert not np.allclose(out["patch_penultimate"][0], out["patch_penultimate"][1])
    # samples in memory give what the file gives; a 1-s clip gives one patch
    model = models["MSD_musicnn"][0]
    samples = clips["chords_drums"].astype(np.float32) / 32768
    np.testing.assert_allclose(musicnn_embed(model, samples)["taggram"], out["taggram"],
                               atol=1e-6)
    short = musicnn_embed(model, samples[:16000])
    assert short["taggram"].shape == (1, 50) and np.isfinite(short["embedding"]).all()


@pytest.mark.skipif(not os.environ.get("MUSICNN_SOURCE"),
                    reason="set MUSICNN_SOURCE to the musicnn 0.1.0 wheel or package folder")
@pytest.mark.parametrize("which", sorted(CONVERTED))
def test_convert_reproduces_committed_weights(which, tmp_path):
    from mirex.backbones.musicnn import convert_musicnn

    manifest = convert_musicnn(os.environ["MUSICNN_SOURCE"], tmp_path / "out", which)
    committed = json.loads((CONVERTED[which] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["weights"]["sha256"] == committed["weights"]["sha256"]
