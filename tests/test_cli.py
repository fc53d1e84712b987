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


@pytest.mark.parametrize("command, option", [("pretrain", "--teacher"),
                                             ("distil", "--minutes")])
def test_trainers_receive_their_arguments(command, option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"], standalone_mode=False)
    assert exit_.value.code == 0
    assert option in capsys.readouterr().out


def test_distil_without_a_teacher_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["distil", "list.txt"], standalone_mode=False)
    assert exit_.value.code == 2 and "--teacher" in capsys.readouterr().err


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
