"""mirex evaluate: any submissions on several tasks, with limits, failures, resume and the pages.

The fake submissions are small POSIX sh + awk scripts. "learner" learns the
label of each file-name prefix from its training list (so it scores 1.0);
the others guess, crash, hang, use TrainAndClassify.sh alone, or write a
malformed output list.
"""

import csv
import json
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import tone_clip, write_clip
from mirex import lists
from mirex.cli import main
from mirex.evaluate import StepOptions, Submission, Task, evaluate
from mirex.evaluation.runner import StepSpec, run_step
from mirex.evaluation.schedule import Node, run_nodes

SKIP_THREADS = '[ "$1" = -numThreads ] && shift 2\n'
# prefix of a path's file name: /x/red_3.wav -> red
PREFIX = 'n=$1; sub(/.*\\//, "", n); sub(/_.*/, "", n)'
EXTRACT = 'cp "$2" "$1/features.txt"; echo "extracted $(wc -l < "$2") files"\n'
TRAIN = f"""[ -f "$1/../features.txt" ] || {{ echo "no features" >&2; exit 3; }}
awk -F'\\t' '{{{PREFIX}; print n "\\t" $2}}' "$2" > "$1/model.txt"
"""
CLASSIFY = f"""awk -F'\\t' 'NR==FNR {{m[$1] = $2; next}} {{{PREFIX}; print $1 "\\t" m[n]}}' \
"$1/model.txt" "$2" > "$3"
"""
GUESS = """awk -F'\\t' 'BEGIN {srand(7)} NR==FNR {if (!($2 in seen)) {seen[$2]; l[k++] = $2}; next}
{print $1 "\\t" l[int(rand() * k)]}' "$1/model.txt" "$2" > "$3"
"""
TRAIN_AND_CLASSIFY = f"""awk -F'\\t' 'NR==FNR {{{PREFIX}; m[n] = $2; next}} {{{PREFIX}; print $1 "\\t" m[n]}}' \
"$2" "$3" > "$4"
"""
MALFORMED = CLASSIFY + """awk 'NR > 1 {print} END {print; print "/nowhere/x_1.wav\\tred"}' "$3" > "$3.tmp"
mv "$3.tmp" "$3"
"""

FAKES = {
    "learner": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Classify.sh": CLASSIFY},
    "guesser": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Test.sh": GUESS},
    "crasher": {"extractFeatures.sh": 'echo "boom: cannot open the GPU" >&2; exit 7\n',
                "Train.sh": TRAIN, "Classify.sh": CLASSIFY},
    "sleeper": {"extractFeatures.sh": 'sleep 60 & echo $! > "$1/child.pid"; wait\n',
                "Train.sh": TRAIN, "Classify.sh": CLASSIFY},
    "oneshot": {"TrainAndClassify.sh": TRAIN_AND_CLASSIFY},
    "sloppy": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Classify.sh": MALFORMED},
    # for the backbone view: two single systems and their combination
    "LPNKK1": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Classify.sh": GUESS},
    "LPNKK2": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Classify.sh": CLASSIFY},
    "LPNKK3": {"extractFeatures.sh": EXTRACT, "Train.sh": TRAIN, "Classify.sh": CLASSIFY},
}
TIMEOUT = 2.0


def write_submission(folder: Path, scripts: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\nset -eu\n" + SKIP_THREADS + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def write_task(root: Path, classes: dict, n: int = 4) -> Path:
    """A labelled list of (empty) files named <prefix>_<i>.wav; the fakes never read audio."""
    items = []
    for prefix, label in classes.items():
        for i in range(n):
            path = root / "audio" / f"{prefix}_{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            items.append((str(path), label))
    lists.write_labelled(root / "all.txt", items)
    return root / "all.txt"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    subs = {name: write_submission(root / "subs" / name, scripts) for name, scripts in FAKES.items()}
    colours = write_task(root / "colours", {"red": "Red", "green": "Green", "blue": "Hip-Hop"})
    shapes = write_task(root / "shapes", {"round": "round", "square": "Square"})
    return root, subs, {"colours": colours, "shapes": shapes}


def read_overview(out: Path) -> dict:
    with open(out / "overview.csv", newline="") as handle:
        return {(r["task"], r["submission"]): r for r in csv.DictReader(handle)}


def run_cli(out, setup, *extra):
    root, subs, tasks = setup
    args = ["evaluate", str(out), "--folds", "2", "--timeout", str(TIMEOUT), "--parallel", "4",
            "--num-threads", "2", *extra]
    for name, path in tasks.items():
        args += ["--task", f"{name}={path}"]
    for name, folder in subs.items():
        args += ["--submission", f"{name}={folder}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def evaluated(setup):
    out = setup[0] / "out"
    result = run_cli(out, setup)
    return out, result


def test_every_submission_gets_its_status_scores_and_figures(evaluated):
    out, result = evaluated
    rows = read_overview(out)
    assert len(rows) == 2 * len(FAKES)
    for task in ("colours", "shapes"):
        learner = rows[task, "learner"]
        assert learner["status"] == "ok" and float(learner["overall_accuracy"]) == 1.0
        assert float(learner["normalised_accuracy"]) == 1.0
        assert float(learner["extract_s"]) > 0 and float(learner["train_s"]) > 0
        assert float(learner["classify_s"]) > 0   # its steps are too short to be sure of an RSS sample
        assert learner["steps_run"] == "5" and learner["steps_resumed"] == "0"
        assert rows[task, "guesser"]["status"] == "ok"
        assert 0 <= float(rows[task, "guesser"]["overall_accuracy"]) <= 1
        crash = rows[task, "crasher"]
        assert crash["status"] == "failed" and crash["reason"] == "extract: exit status 7"
        assert crash["overall_accuracy"] == "" and crash["train_s"] == ""
        hang = rows[task, "sleeper"]
        assert hang["status"] == "timeout" and "time limit of 2 s" in hang["reason"]
        assert TIMEOUT <= float(hang["extract_s"]) < TIMEOUT + 5 and float(hang["peak_rss_mb"]) > 0
        one = rows[task, "oneshot"]
        assert one["status"] == "ok" and float(one["overall_accuracy"]) == 1.0
        assert one["extract_s"] == "" and one["classify_s"] == "" and float(one["train_s"]) > 0
        sloppy = rows[task, "sloppy"]
        assert sloppy["status"] == "partial"
        assert "missing" in sloppy["reason"] and "duplicate" in sloppy["reason"]
        assert "unknown-track" in sloppy["reason"] and sloppy["log"].endswith("_classify.log")
        assert float(sloppy["overall_accuracy"]) < 1.0
    assert "sleeper  " in result.output and "Overview:" in result.output


def test_the_documented_arguments_and_nothing_else_reach_the_scripts(evaluated, setup):
    out, _ = evaluated
    task = out / "colours"
    log = (task / "logs" / "learner_fold1_train.log").read_text().splitlines()
    scratch = task / "scratch" / "learner" / "fold1"
    assert log[0] == (f"$ {setup[1]['learner'] / 'Train.sh'} -numThreads 2 {scratch} "
                      f"{task / 'lists' / 'fold1_train.txt'}")
    assert (scratch / "model.txt").is_file()   # run in its own fold folder
    assert "extracted 12 files" in (task / "logs" / "learner_extract.log").read_text()
    guess_log = (task / "logs" / "guesser_fold2_classify.log").read_text()
    assert "Test.sh -numThreads 2" in guess_log and guess_log.rstrip().endswith("MB)")
    # the timed-out tree is gone, its background child included
    pid = int((task / "scratch" / "sleeper" / "child.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    record = json.loads((task / "steps" / "learner_fold1_classify.json").read_text())
    assert record["result"]["status"] == "ok" and record["result"]["wall_s"] > 0


def test_the_task_reports_hold_the_scored_submissions_only(evaluated):
    out, _ = evaluated
    for task in ("colours", "shapes"):
        report = out / task / "report"
        with open(report / "summaryResults.csv", newline="") as handle:
            rows = {r[0]: r for r in list(csv.reader(handle))[1:]}
        assert set(rows) == {"learner", "guesser", "oneshot", "sloppy", "LPNKK1", "LPNKK2", "LPNKK3"}
        assert float(rows["learner"][1]) == 1.0
        assert (report / "PerFoldResults.csv").is_file() and (report / "PerClassResults.csv").is_file()
        assert len(list((report / "confusion").glob("learner_*.png"))) == 3
    assert len(lists.read_paths(out / "colours" / "lists" / "extract.txt")) == 12


def test_the_page_shows_the_grid_failures_and_the_backbone_view(evaluated):
    out, _ = evaluated
    page = (out / "index.html").read_text()
    assert '<a href="colours/report/index.html">colours</a>' in page
    assert "1.0000 / 1.0000" in page
    assert "boom: cannot open the GPU" in page            # the crash's log tail
    assert "crasher: failed" in page and "sleeper: timeout" in page
    assert "sloppy: partial" in page
    assert "<script" not in page and "src=\"http" not in page
    view = page.split("Which backbone wins")[1].split("</table>")[0]
    assert "LPNKK2 (samplecnn-mtt)" in view               # LPNKK2 learns, LPNKK1 guesses
    assert "+0.0000" in view                              # LPNKK3 = LPNKK2 here
    assert "not significant" in view


def test_a_rerun_resumes_and_reruns_only_what_changed(setup, tmp_path):
    root, subs, tasks = setup
    out = tmp_path / "out"
    few = [Submission(n, subs[n]) for n in ("learner", "oneshot", "crasher")]
    task_list = [Task("colours", tasks["colours"])]
    first = evaluate(out, task_list, few, n_folds=2, parallel=2)
    records = {p.name: json.loads(p.read_text()) for p in (out / "colours" / "steps").glob("*.json")}
    # interrupted while classifying fold 2: no record, half an output
    (out / "colours" / "steps" / "learner_fold2_classify.json").unlink()
    (out / "colours" / "predictions" / "learner" / "fold2.txt").write_text("half")
    second = {r["submission"]: r for r in evaluate(out, task_list, few, n_folds=2)["rows"]}
    assert (second["learner"]["steps_run"], second["learner"]["steps_resumed"]) == (1, 4)
    assert second["learner"]["status"] == "ok" and second["learner"]["scores"][1].accuracy == 1.0
    assert (second["oneshot"]["steps_run"], second["oneshot"]["steps_resumed"]) == (0, 2)
    assert second["crasher"]["steps_run"] == 1                # failed steps run again
    after = {p.name: json.loads(p.read_text()) for p in (out / "colours" / "steps").glob("*.json")}
    for name in ("learner_extract.json", "learner_fold1_train.json", "oneshot_fold1_trainclassify.json"):
        assert after[name]["run_id"] == records[name]["run_id"]
    # an edited script reruns every step of that submission, and only those
    script = subs["oneshot"] / "TrainAndClassify.sh"
    os.utime(script, ns=(script.stat().st_atime_ns, script.stat().st_mtime_ns + 10**9))
    third = {r["submission"]: r for r in evaluate(out, task_list, few, n_folds=2)["rows"]}
    assert third["oneshot"]["steps_run"] == 2 and third["learner"]["steps_run"] == 0
    assert len(first["rows"]) == 3


def test_a_config_file_and_its_errors(setup, tmp_path):
    root, subs, tasks = setup
    config = tmp_path / "eval.toml"
    config.write_text(f'folds = 2\n[tasks]\nshapes = "{tasks["shapes"]}"\n'
                      f'[submissions]\nlearner = {{ dir = "{subs["learner"]}", env = {{ X = 1 }} }}\n')
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "o"), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert read_overview(tmp_path / "o")["shapes", "learner"]["status"] == "ok"
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "o"), "--task", "a b=x.txt",
                                       "--submission", f"s={subs['learner']}"])
    assert result.exit_code == 1 and "letters, digits" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    mute = write_submission(tmp_path / "mute", {"Train.sh": "exit 0\n", "Test.sh": "exit 0\n"})
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "e"), "--task",
                                       f"shapes={tasks['shapes']}", "--submission", f"none={empty}",
                                       "--submission", f"mute={mute}"])
    assert result.exit_code == 0 and "no Train.sh" in result.output
    rows = read_overview(tmp_path / "e")
    assert rows["shapes", "mute"]["status"] == "failed"
    assert rows["shapes", "mute"]["reason"] == "fold1_classify: exited 0 but wrote no output list"


def test_the_memory_limit_kills_the_process_tree(tmp_path):
    grow = "import time; x = bytearray(400 << 20); x[::4096] = b'1' * len(x[::4096]); time.sleep(5)"
    script = tmp_path / "grow.sh"
    script.write_text(f'#!/bin/sh\npython3 -c "{grow}"\n')
    script.chmod(0o755)
    result = run_step(StepSpec((str(script),), str(tmp_path), str(tmp_path / "log"), memory_mb=150))
    assert result.status == "failed" and "memory limit of 150 MB" in result.reason
    assert result.wall_s < 4 and result.peak_rss_mb > 150


def test_the_project_bin_is_a_submission_like_any_other(tmp_path, tiny_models):
    items = [(write_clip(tmp_path / "a" / f"{kind}_{i}.wav", tone_clip(kind, seed=i, seconds=1.0)),
              kind) for kind in ("low", "high") for i in range(3)]
    lists.write_labelled(tmp_path / "all.txt", items)
    env = {"MIREX_MODELS_DIR": str(tiny_models), "MIREX_VARIANT": "LPNKK1"}
    bin_dir = Path(__file__).resolve().parent.parent / "bin"
    outcome = evaluate(tmp_path / "out", [Task("tones", tmp_path / "all.txt")],
                       [Submission("LPNKK1", bin_dir, env=env)], n_folds=2, parallel=2,
                       options=StepOptions(num_threads=1, timeout=300))
    (row,) = outcome["rows"]
    assert row["status"] == "ok", (row["reason"], row["log"])
    assert sum(s.n_tracks for s in row["scores"]) == 6 and not any(s.problems for s in row["scores"])
    assert "0 extracted" in (tmp_path / "out" / "tones" / "logs" / "LPNKK1_fold1_train.log").read_text()
    assert row["peak_rss_mb"] > 50 and row["cpu_s"] > 0


def test_an_interrupted_run_kills_its_steps_and_the_next_one_resumes(tmp_path):
    def script(name, body):
        return str(write_submission(tmp_path / name, {"s.sh": body}) / "s.sh")

    flag = tmp_path / "second-run"
    quick = script("quick", "echo done\n")
    slow = script("slow", f'[ -f "{flag}" ] || sleep 30\n')

    def nodes(last):
        spec = lambda argv, name: StepSpec((argv, "x"), str(tmp_path), str(tmp_path / f"{name}.log"))
        return [Node("a", spec(quick, "a"), str(tmp_path / "a.json"), "1"),
                Node("b", spec(slow, "b"), str(tmp_path / "b.json"), "1", after=("a",)),
                Node("c", spec(last, "c"), str(tmp_path / "c.json"), "1", after=("a",))]

    def interrupting(spec):
        if spec.argv[0] == "ctrl-c":
            time.sleep(0.5)
            raise KeyboardInterrupt
        return run_step(spec)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_nodes(nodes("ctrl-c"), parallel=2, run=interrupting)
    assert time.monotonic() - started < 10          # the sleeping step was killed
    assert (tmp_path / "a.json").is_file() and not (tmp_path / "b.json").exists()
    flag.touch()
    outcomes = run_nodes(nodes(quick), parallel=2)
    assert outcomes["a"].resumed and not outcomes["b"].resumed and not outcomes["c"].resumed
    assert all(o.result.status == "ok" for o in outcomes.values())


def test_steps_run_on_a_dask_cluster_score_as_locally(setup, tmp_path):
    root, subs, tasks = setup
    base = ["evaluate", "--folds", "2", "--task", f"colours={tasks['colours']}",
            "--submission", f"learner={subs['learner']}",
            "--submission", f"oneshot={subs['oneshot']}"]
    results = {}
    for name, extra in (("local", []), ("cluster", ["--cluster", "local:2"])):
        result = CliRunner().invoke(main, [base[0], str(tmp_path / name), *base[1:], *extra])
        assert result.exit_code == 0, result.output
        results[name] = read_overview(tmp_path / name)
    for key, row in results["local"].items():
        remote = results["cluster"][key]
        assert remote["status"] == row["status"] == "ok"
        assert remote["overall_accuracy"] == row["overall_accuracy"]
    result = CliRunner().invoke(main, [base[0], str(tmp_path / "x"), *base[1:],
                                       "--cluster", "nowhere"])
    assert result.exit_code == 1 and "Error: cluster 'nowhere'" in result.output
