"""mirex.pretrain.inmemory: distillation with the corpus in memory (any Keras backend).

Clips are generated here; the teacher is the committed ``models/musicnn-mtt``;
the student is a narrow SampleCNN of the paper's depth trained a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import tone_clip, write_clip

from mirex.constants import SAMPLE_RATE, SEGMENT_SAMPLES
from mirex.pretrain import inmemory as IM

REPO = Path(__file__).resolve().parent.parent
MUSICNN_MTT = REPO / "models" / "musicnn-mtt"
TINY = {"widths": [8, 8, 8, 16, 16, 16, 16, 16, 16, 24, 24], "n_outputs": 3, "dropout": 0.0}
FAST = dict(config=TINY, batch_size=4, steps_per_epoch=2, valid_fraction=0.25,
            precision="float32", workers=2, minutes=30.0)


@pytest.fixture(scope="module")
def clip_list(tmp_path_factory):
    """Four 4-5 s clips (one a 24-kHz Opus file, as tools/pack_corpus.py writes) and a list
    with paths relative to it, plus one unreadable file that must be skipped."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("inmemory")
    names = []
    for i, kind in enumerate(["low", "high", "noise", "low"]):
        y = tone_clip(kind, seed=i, seconds=4.0 + 0.3 * i)
        if i == 0:
            y24 = np.interp(np.arange(int(len(y) * 24000 / SAMPLE_RATE)) * SAMPLE_RATE / 24000,
                            np.arange(len(y)), y).astype(np.float32)
            sf.write(root / "c0.opus", y24, 24000, format="OGG", subtype="OPUS")
            names.append("c0.opus")
        else:
            write_clip(root / f"c{i}.wav", y)
            names.append(f"c{i}.wav")
    (root / "broken.wav").write_bytes(b"not audio at all")
    names.append("broken.wav")
    (root / "list.txt").write_text("\n".join(names) + "\n")
    return root / "list.txt"


def test_stage_lr_divides_by_five_at_the_stage_fractions():
    lrs = [0.02 / 5 ** k for k in range(5)]
    assert IM.stage_lr(0.0, lrs) == pytest.approx(0.02)
    assert IM.stage_lr(IM.STAGE_FRACTIONS[1] - 1e-9, lrs) == pytest.approx(0.02)
    assert IM.stage_lr(IM.STAGE_FRACTIONS[1], lrs) == pytest.approx(0.004)
    assert IM.stage_lr(IM.STAGE_FRACTIONS[2], lrs) == pytest.approx(0.0008)
    assert IM.stage_lr(0.999, lrs) == pytest.approx(0.02 / 5 ** (len(IM.STAGE_FRACTIONS) - 1))


def test_corpus_skips_bad_files_and_crops_stay_inside_teacher_windows(clip_list):
    paths = [str(clip_list.parent / n) for n in clip_list.read_text().split()]
    corpus = IM.load_corpus(paths, workers=2)
    assert len(corpus.paths) == 4 and not any("broken" in p for p in corpus.paths)
    assert corpus.wave.size == corpus.lengths.sum()
    t = IM.teacher_windows(corpus, MUSICNN_MTT, hop_frames=32)
    n = len(t["clip"])
    assert t["taggram"].shape == (n, 50) and t["pool"].shape == (n, 1506)
    assert np.all((t["taggram"] >= 0) & (t["taggram"] <= 1))
    # window starts advance by 32 frames of 256 samples at 16 kHz, in 22050-Hz samples
    first = t["start"][t["clip"] == 1]
    assert first[1] - first[0] == round(32 * 256 / 16000 * SAMPLE_RATE)
    # the latest crop of every window ends inside its clip
    assert np.all(t["room"] >= 0) and np.all(t["room"] <= t["slack"])
    assert np.all(t["start"] + t["room"] + SEGMENT_SAMPLES <= corpus.lengths[t["clip"]])
    # a crop is the clip's own samples
    x = corpus.crops(t["clip"][:2], t["start"][:2])
    c = t["clip"][1]
    assert np.array_equal(x[1, :, 0], corpus.wave[corpus.offsets[c] + t["start"][1]:][
        :SEGMENT_SAMPLES])


def test_posteriors_run_writes_a_backbone_and_resumes(clip_list, tmp_path):
    from mirex.backbones import load_backbone

    out = tmp_path / "run"
    summary = IM.distil(clip_list, MUSICNN_MTT, out, name="samplecnn-mtt", max_steps=2, **FAST)
    assert summary["epochs"] == 1 and summary["segments_seen"] == 8
    backbone = load_backbone(out / "backbone")
    assert backbone.trained and backbone.name == "samplecnn-mtt"
    assert backbone.config["n_outputs"] == 50
    prov = backbone.manifest["provenance"]
    assert prov["distill"] == "posteriors" and prov["teacher"]["name"] == "musicnn-mtt"
    assert prov["corpus"]["clips"] + prov["corpus"]["valid_clips"] == 4
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 2
    before = (out / "checkpoint.weights.h5").read_bytes()

    summary = IM.distil(clip_list, MUSICNN_MTT, out, name="samplecnn-mtt", max_steps=4,
                        resume=True, **FAST)
    state = json.loads((out / "state.json").read_text())
    assert state["epoch"] == 2 and state["steps"] == 4 and summary["epochs"] == 2
    assert len((out / "log.csv").read_text().splitlines()) == 3
    assert (out / "checkpoint.weights.h5").read_bytes() != before


def test_features_run_regresses_the_teacher_embedding(clip_list, tmp_path):
    from mirex.backbones import load_backbone

    out = tmp_path / "feat"
    summary = IM.distil(clip_list, MUSICNN_MTT, out, distill="features", max_steps=2, **FAST)
    assert summary["val"]["val_r2"] is not None and summary["val"].get("val_auc") is None
    backbone = load_backbone(out / "backbone")
    assert backbone.manifest["provenance"]["recipe"]["loss"] == "mean_squared_error"
    assert backbone.config["n_outputs"] == 3          # the output layer is not trained


def test_a_single_file_is_refused_with_a_clear_error(clip_list, tmp_path):
    one = tmp_path / "one.txt"
    one.write_text(str(clip_list.parent / "c1.wav") + "\n")
    with pytest.raises(ValueError, match="at least two readable files"):
        IM.distil(one, MUSICNN_MTT, tmp_path / "out", max_steps=1, **FAST)
