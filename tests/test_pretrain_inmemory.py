"""``mirex distil`` (mirex.pretrain.api.distil): the one trainer with the corpus in memory.

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
from mirex.lists import read_paths
from mirex.pretrain import api as IM
from mirex.pretrain import checkpoints as CK
from mirex.pretrain import targets as TG
from mirex.pretrain.audiocache import AudioCache, KeyIndex
from mirex.pretrain.runs import resolve_path
from mirex.pretrain.schedule import STAGE_FRACTIONS, stage_lr
from mirex.pretrain.sources import MemorySource
from mirex.pretrain.teacher import Teacher, TeacherCache

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
    lrs = IM.DISTIL_DEFAULTS["lrs"]
    assert lrs == pytest.approx([0.02 / 5 ** k for k in range(5)])
    assert stage_lr(0.0, lrs) == pytest.approx(0.02)
    assert stage_lr(STAGE_FRACTIONS[1] - 1e-9, lrs) == pytest.approx(0.02)
    assert stage_lr(STAGE_FRACTIONS[1], lrs) == pytest.approx(0.004)
    assert stage_lr(STAGE_FRACTIONS[2], lrs) == pytest.approx(0.0008)
    assert stage_lr(0.999, lrs) == pytest.approx(0.02 / 5 ** (len(STAGE_FRACTIONS) - 1))


def test_corpus_skips_bad_files_and_crops_stay_inside_teacher_windows(clip_list, tmp_path):
    paths = [resolve_path(p, clip_list) for p in read_paths(clip_list)]
    index = KeyIndex(tmp_path / "index.json")
    items = [(p, index.key(p)) for p in paths]
    clips, failed, complete = AudioCache(tmp_path).prepare(items, workers=2)
    assert complete and list(failed) == [paths[-1]] and len(clips) == 4
    records = [(p, k) for p, k in items if k in clips]
    tcache = TeacherCache(tmp_path, Teacher(MUSICNN_MTT), hop=32)
    assert tcache.prepare(records) == ({}, True)
    outputs = [tcache.load(k)["taggram"] for _, k in records]
    memory = MemorySource([clips[k] for _, k in records])
    assert memory.wave.size == memory.lengths.sum()
    units = TG.teacher_units(memory.lengths, outputs, hop_frames=32)
    assert units.y.shape == (len(units), 50)
    assert np.all((units.y >= 0) & (units.y <= 1))
    # window starts advance by 32 frames of 256 samples at 16 kHz, in 22050-Hz samples
    first = units.start[units.clip == 1]
    assert first[1] - first[0] == round(32 * 256 / 16000 * SAMPLE_RATE)
    # the latest crop of every window ends inside its clip
    assert np.all(units.room >= 0) and np.all(units.room <= TG.window_slack())
    assert np.all(units.start + units.room + SEGMENT_SAMPLES <= memory.lengths[units.clip])
    # a crop is the clip's own samples
    x = memory.crops(units.clip[:2], units.start[:2])
    c = units.clip[1]
    assert np.array_equal(x[1, :, 0], memory.wave[memory.offsets[c] + units.start[1]:][
        :SEGMENT_SAMPLES])


def _weights(out) -> bytes:
    state = json.loads((out / CK.CHECKPOINT_NAME).read_text())
    return (out / CK.CHECKPOINT_DIR / state["files"]["weights"]["file"]).read_bytes()


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
    assert prov["recipe"]["schedule"]["policy"] == "budget"
    assert prov["command"].startswith("mirex distil ")
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 2
    before = _weights(out)

    with pytest.raises(ValueError, match="already holds a run"):
        IM.distil(clip_list, MUSICNN_MTT, out, max_steps=4, **FAST)
    summary = IM.distil(clip_list, MUSICNN_MTT, out, name="samplecnn-mtt", max_steps=4,
                        resume=True, **FAST)
    state = json.loads((out / CK.CHECKPOINT_NAME).read_text())
    assert state["epoch"] == 2 and state["steps"] == 4 and summary["epochs"] == 2
    assert len((out / "log.csv").read_text().splitlines()) == 3
    assert _weights(out) != before


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
