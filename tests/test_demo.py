"""`make demo` in miniature: the same code path on a tiny generated task."""

from mirex.demo.run import run_demo


def test_demo_runs_the_dry_run_and_prints_the_summary(tmp_path):
    printed = []
    outcome = run_demo(tmp_path, n_classes=3, clips_per_class=4, duration=4.0, n_folds=2,
                       systems=["LPNKK1", "mfcc-svm"],     # musicnn-svm: test_dryrun
                       echo=printed.append)
    text = "\n".join(printed)
    assert "LPNKK1" in text and "mfcc-svm" in text and "Overall" in text
    assert (tmp_path / "dryrun" / "report" / "index.html").is_file()
    for scores in outcome["results"].values():
        assert sum(s.n_tracks for s in scores) == 12 and not any(s.problems for s in scores)
