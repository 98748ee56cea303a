from __future__ import annotations

import subprocess
import sys

import pytest

from ganforge.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, check=False)


def test_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "colorize", "eval", "compare", "plugins"):
        assert command in result.stdout


def test_plugins_lists_kind_name_origin_and_description(capsys):
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "ORIGIN", "DESCRIPTION"]
    lab = next(line for line in lines if " lab " in line)
    assert lab.startswith("color space") and "ganforge_plugins.colorspaces" in lab and "CIE L*a*b*" in lab


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plugins", "--kind", "gizmo"], "invalid choice: 'gizmo'"),
        (["train"], "the following arguments are required: recipe"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("ganforge")


def test_a_bare_recipe_path_means_train_and_a_missing_recipe_is_a_usage_error():
    result = run_cli("no_such_recipe.yaml")
    assert result.returncode == 2
    assert result.stderr == "ganforge: error: recipe file 'no_such_recipe.yaml' does not exist\n"


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`ganforge plugins | head -1`: no traceback when the pipe closes, and the SIGPIPE exit status."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ganforge", "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read().decode()
    assert process.wait() == 141 and stderr == ""


@pytest.mark.parametrize("command", ["train", "colorize", "eval", "compare"])
def test_threads_pins_torch_before_the_command_runs(command, monkeypatch):
    import torch

    from ganforge.cli import main

    pinned = []
    monkeypatch.setattr(torch, "set_num_threads", pinned.append)
    arguments = {"train": ["missing.yaml"], "colorize": ["missing.png", "-o", "out"], "eval": ["missing.safetensors"],
                 "compare": ["missing.yaml"]}[command]  # fmt: skip
    assert main([command, *arguments, "--threads", "3"]) == 2  # the missing file is reported after pinning
    assert pinned == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["colorize", "in.png", "-o", "out", "--size", "-5"], "argument --size: must be in [16, 4096], got -5"),
        (["colorize", "in.png", "-o", "out", "--size", "128,8"], "argument --size: must be in [16, 4096], got 8"),
        (["colorize", "in.png", "-o", "out", "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["colorize", "in.png", "-o", "out", "--samples", "-1"], "argument --samples: must be at least 0, got -1"),
        (
            ["colorize", "in.png", "-o", "out", "--desaturate-below", "2"],
            "argument --desaturate-below: must be in (0, 1], got 2",
        ),
        (["colorize", "in.png", "-o", "out", "--smoothing", "1"], "argument --smoothing: must be in [0, 1), got 1"),
        (
            ["colorize", "in.png", "-o", "out", "--temperature", "nan"],
            "argument --temperature: must be a positive number, got nan",
        ),
        (["eval", "--images", "0"], "argument --images: must be at least 1, got 0"),
        (["eval", "--vividness", "3"], "argument --vividness: must be in [-1, 2], got 3"),
        (
            ["export", "m.safetensors", "-o", "x.safetensors", "--vividness", "nan"],
            "argument --vividness: must be in [-1, 2], got nan",
        ),
        (["compare", "r.yaml", "--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (
            ["export", "m.safetensors", "-o", "x.safetensors", "--confidence-temperature", "-1"],
            "argument --confidence-temperature: must be a positive number, got -1",
        ),
        (["rebalance", "builtin:samples", "-o", "w.json", "--mix", "2"], "argument --mix: must be in [0, 1], got 2"),
        (["train", "r.yaml", "--threads", "0"], "argument --threads: must be in [1, 1024], got 0"),
    ],
)
def test_out_of_range_numbers_are_refused_before_anything_runs(args, message, capsys):
    from ganforge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and message in err


def test_an_existing_file_that_is_not_an_output_kind_is_refused_as_output(tmp_path, capsys):
    from ganforge.cli import main

    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    (tmp_path / "in.png").write_bytes(b"")
    assert main(["colorize", str(tmp_path / "in.png"), "-o", str(notes)]) == 2
    assert "is an existing file that is not a picture or video ganforge writes" in capsys.readouterr().err
    assert notes.read_text() == "mine"


def test_an_output_location_that_cannot_be_written_is_one_line_and_exit_1(tmp_path, capsys):
    from PIL import Image

    from ganforge.cli import main

    Image.new("L", (20, 20), 128).save(tmp_path / "in.png")
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "a_file" / "out.png")]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"ganforge: error: File exists: '{tmp_path / 'a_file'}'; a file stands where a folder is needed: check the path\n"
    )
