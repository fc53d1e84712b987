"""The command line is a thin layer: every command is there and says how to call it."""

import pytest
from click.testing import CliRunner

from mirex.cli import main

COMMANDS = ["extract", "train", "classify", "test", "train-and-classify", "init-backbone",
            "import-weights", "import-musicnn", "make-folds", "dryrun", "evaluate", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize("command, options", [
    ("pretrain", ["--train-list", "--mode", "--teacher", "--teacher-hop", "--strategy",
                  "--max-minutes", "--lrs", "--benchmark"]),
    ("distil", ["--teacher", "--minutes", "--lr", "--hop-frames", "--precision", "--resume",
                "--init-from", "--max-steps"])])
def test_trainers_are_click_commands_with_every_option(command, options):
    result = CliRunner().invoke(main, [command, "--help"], prog_name="mirex")
    assert result.exit_code == 0
    assert result.output.startswith(f"Usage: mirex {command} ")
    assert all(option in result.output for option in options)


def test_trainers_forward_their_options_to_the_one_trainer(monkeypatch, tmp_path):
    from mirex.pretrain import api

    calls = []
    monkeypatch.setattr(api, "train", lambda opts: calls.append(opts) or {"status": "x"})
    runner = CliRunner()
    done = runner.invoke(main, ["pretrain", "--train-list", "l.txt", "--out", str(tmp_path),
                                "--mode", "genres", "--lrs", "0.1,0.02", "--teacher-hop", "1"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["distil", "l.txt", "--teacher", "t", "--out", str(tmp_path),
                                "--lr", "0.05", "--minutes", "3", "--hop-frames", "16"])
    assert done.exit_code == 0, done.output
    pre, dis = calls
    assert (pre.mode, pre.lrs, pre.hop_frames, pre.batch_size) == ("genres", [0.1, 0.02], 62, 23)
    assert (pre.schedule, pre.source, pre.resume) == ("plateau", "disk", True)
    assert (dis.mode, dis.teacher, dis.hop_frames, dis.batch_size) == ("teacher", "t", 16, 64)
    assert dis.lrs == pytest.approx([0.05 / 5 ** k for k in range(5)])
    assert (dis.schedule, dis.budget_minutes, dis.source, dis.resume) == ("budget", 3.0,
                                                                          "memory", False)
    assert pre.command.startswith("mirex pretrain --train-list l.txt")
    assert dis.command.startswith("mirex distil l.txt --teacher t")


def test_distil_without_a_teacher_is_a_usage_error():
    result = CliRunner().invoke(main, ["distil", "list.txt", "--out", "o"])
    assert result.exit_code == 2 and "--teacher" in result.output


def test_unknown_variant_is_one_clear_error(tmp_path):
    (tmp_path / "l.txt").write_text("/a.wav\n")
    result = CliRunner().invoke(main, ["extract", "--variant", "LPNKK9", str(tmp_path / "s"),
                                       str(tmp_path / "l.txt")])
    assert result.exit_code == 1 and "unknown variant 'LPNKK9'" in result.output


def test_init_backbone_writes_an_untrained_backbone(tmp_path):
    from mirex.backbones import load_backbone

    result = CliRunner().invoke(main, ["init-backbone", str(tmp_path / "b"), "--seed", "3",
                                       "--architecture", "msd-released"])
    assert result.exit_code == 0, result.output
    backbone = load_backbone(tmp_path / "b")
    assert not backbone.trained and backbone.embedding_dim == 768
