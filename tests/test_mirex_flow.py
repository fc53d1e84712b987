"""The whole MIREX flow through the real shell scripts, as the organizers run it."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import tone_clip, write_clip
from mirex import lists

BIN = Path(__file__).resolve().parent.parent / "bin"


def run(script, *args, cwd, env_extra=None, expect=0):
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([str(script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == expect, f"{script} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stderr


def cache_entries(scratch):
    return sorted(p for p in Path(scratch, "features").rglob("*.npy"))


@pytest.fixture(scope="module")
def task(tmp_path_factory, tone_task, tiny_models):
    root = tmp_path_factory.mktemp("flow")
    bad = root / "broken clip.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    items = list(tone_task)
    folds = [items[0::2], items[1::2]]
    lists.write_paths(root / "extract.txt", [p for p, _ in items] + [str(bad), str(root / "gone.wav")])
    for k, (train, test) in enumerate([(folds[0], folds[1]), (folds[1], folds[0])], start=1):
        lists.write_labelled(root / f"train{k}.txt", train + [(str(bad), "Hip-Hop")])
        # test lists carry the organizers' trailing tab and CRLF line ends
        (root / f"test{k}.txt").write_bytes("".join(f"{p}\t\r\n" for p, _ in test).encode())
    env = {"MIREX_MODELS_DIR": str(tiny_models)}
    return root, items, folds, bad, env


def check_output(out_file, test_list, train_list):
    expected_paths = lists.read_paths(test_list)
    labels = {label for _, label in lists.read_labelled(train_list)}
    out = lists.read_labelled(out_file)
    assert [p for p, _ in out] == expected_paths  # one line per test line, same order, same path
    assert all(label in labels for _, label in out)
    return out


def test_extract_once_then_two_folds_in_separate_scratch_folders(task):
    root, items, folds, bad, env = task
    scratch = root / "scratch"
    err = run(BIN / "extractFeatures.sh", "-numThreads", "1", scratch, root / "extract.txt",
              cwd=root, env_extra=env)
    assert "broken clip.wav: not a readable audio file" in err
    assert "gone.wav: file not found" in err
    assert len(cache_entries(scratch)) == len(items)

    truth = dict(items)
    correct = 0
    for k, script in ((1, "Test.sh"), (2, "Classify.sh")):
        fold_scratch = scratch / f"fold {k}"
        # called by a relative path from another directory
        err = run(Path(os.path.relpath(BIN / "Train.sh", root)), fold_scratch, f"train{k}.txt",
                  cwd=root, env_extra=env)
        assert "0 extracted" in err and "broken clip.wav" in err
        assert (fold_scratch / "model" / "LPNKK1" / "classifier.json").is_file()
        err = run(BIN / script, "-numThreads", "2", fold_scratch, root / f"test{k}.txt",
                  root / f"out{k}.txt", cwd=fold_scratch, env_extra=env)
        assert "0 extracted" in err
        out = check_output(root / f"out{k}.txt", root / f"test{k}.txt", root / f"train{k}.txt")
        correct += sum(truth[p] == label for p, label in out)
    assert not list((scratch / "fold 1").glob("features/*/*/*.npy"))  # folds read the parent cache
    # chance is 1/3; a tiny random network with 2 training clips a class still beats it
    assert correct / len(items) >= 0.5

    err = run(BIN / "extractFeatures.sh", scratch, root / "extract.txt", cwd=root, env_extra=env)
    assert f"{len(items)} from cache, 0 extracted" in err


def test_unextracted_test_files_are_extracted_on_the_fly_and_bad_ones_get_the_prior(task):
    root, items, folds, bad, env = task
    scratch = root / "scratch2"
    run(BIN / "Train.sh", scratch, root / "train1.txt", cwd=root, env_extra=env)
    extra = write_clip(root / "new clip.wav", tone_clip("low", seed=99))
    test_list = root / "test_new.txt"
    lists.write_paths(test_list, [extra, str(bad), extra])
    err = run(BIN / "Test.sh", scratch, test_list, root / "out_new.txt", cwd=root, env_extra=env)
    assert "not covered by the feature extraction pass" in err
    out = check_output(root / "out_new.txt", test_list, root / "train1.txt")
    import json

    prior = json.loads((scratch / "model" / "LPNKK1" / "classifier.json").read_text())["prior"]
    assert out[1] == (str(bad), prior)  # the unreadable clip gets the training prior
    assert out[0][1] == out[2][1]  # a duplicated line gets the same prediction


def test_lpnkk3_from_the_environment_concatenates_both_backbones(task):
    root, items, folds, bad, env = task
    scratch = root / "scratch3"
    env3 = {**env, "MIREX_VARIANT": "LPNKK3"}
    run(BIN / "TrainAndClassify.sh", scratch, root / "train1.txt", root / "test1.txt",
        root / "out3.txt", cwd=root, env_extra=env3)
    check_output(root / "out3.txt", root / "test1.txt", root / "train1.txt")
    namespaces = {p.name for p in (scratch / "features").iterdir() if p.is_dir() and p.name != "index"}
    assert {n.split("-")[0] + "-" + n.split("-")[1] for n in namespaces} == {"samplecnn-msd",
                                                                             "samplecnn-mtt"}
    # Testing with another variant than the one trained is an error, not a silent mix.
    run(BIN / "Test.sh", "--variant", "LPNKK2", scratch, root / "test1.txt", root / "o.txt",
        cwd=root, env_extra=env, expect=1)


def test_calling_errors_are_one_clear_line(task, tmp_path):
    root, items, folds, bad, env = task
    err = run(BIN / "Train.sh", tmp_path / "s", cwd=root, env_extra=env, expect=2)
    assert "usage" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    err = run(BIN / "Train.sh", tmp_path / "s", empty, cwd=root, env_extra=env, expect=1)
    assert "empty.txt: list file is empty" in err
    err = run(BIN / "Train.sh", tmp_path / "s", root / "train1.txt", cwd=root,
              env_extra={"MIREX_MODELS_DIR": str(tmp_path / "no models")}, expect=1)
    assert "samplecnn-msd" in err and "MIREX_MODELS_DIR" in err


def test_extraction_on_a_local_dask_cluster_equals_the_in_process_one(task):
    root, items, folds, bad, env = task
    run(BIN / "extractFeatures.sh", root / "scratch", root / "extract.txt", cwd=root,
        env_extra=env)                              # in process (all cached if run before)
    err = run(BIN / "extractFeatures.sh", root / "cluster scratch", root / "extract.txt",
              cwd=root, env_extra={**env, "MIREX_CLUSTER": "local:2"})
    assert "cluster local:2: 2 workers" in err and "broken clip.wav" in err
    local = cache_entries(root / "scratch")
    remote = cache_entries(root / "cluster scratch")
    assert [p.name for p in local] == [p.name for p in remote] and len(remote) == len(items)
    for a, b in zip(local, remote):
        assert np.allclose(np.load(a), np.load(b), rtol=1e-6, atol=1e-7)
