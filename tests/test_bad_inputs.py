"""Bad input and faults at the command line, one row each: what a hostile or careless user types, and the one line
ganforge must answer with. A new case joins the table in one line (a setup function, when it needs files)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ganforge.cli import main

from .helpers import checkpoint

UNET = {"name": "unet", "width": 8, "depth": 2}
TINY_RECIPE = """
data: {train: "builtin:shapes", val: "builtin:shapes", size: 32, batch_size: 2, num_workers: 0, val_images: 1}
generator: {name: unet, width: 8, depth: 2}
phases: [{name: only, steps: 2, losses: {l1: 1.0}}]
train: {out_dir: "%s", checkpoint_every: 1, sample_every: 100, log_every: 1}
"""


# --------------------------------------------------------------------------- what the cases need on disk


def model(tmp: Path) -> None:
    checkpoint(tmp, UNET, name="m")


def model_and_other_checkpoint(tmp: Path) -> None:
    model(tmp)
    checkpoint(tmp, UNET, name="other")


def model_and_notes(tmp: Path) -> None:
    model(tmp)
    (tmp / "notes.txt").write_text("my notes")


def model_and_folder(tmp: Path) -> None:
    model(tmp)
    (tmp / "mdir").mkdir()


def onnx_named_file(tmp: Path) -> None:
    (tmp / "m.onnx").write_bytes(b"\x08\x07not a checkpoint")


def nan_ema_checkpoint(tmp: Path) -> None:
    """A checkpoint whose EMA weights diverged, written past ganforge's own checks."""
    with safe_open(str(checkpoint(tmp, UNET, name="good")), "pt") as handle:
        metadata, tensors = handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}
    tensors.update({
        "ema." + key.removeprefix("generator."): torch.full_like(value, float("nan"))
        for key, value in tensors.items() if key.startswith("generator.") and value.is_floating_point()
    })  # fmt: skip
    save_file(tensors, str(tmp / "m.safetensors"), metadata=metadata)


def recipe_with(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / "r.yaml").write_text(text.replace("OUT", str(tmp / "run")))

    return write


ALIAS_BOMB = "data:\n  train:\n    - &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    - &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)


def photo(tmp: Path, size: tuple[int, int] = (40, 30)) -> None:
    from PIL import Image

    Image.new("L", size, 128).save(tmp / "photo.png")


def strip(tmp: Path) -> None:
    photo(tmp, (1, 5000))


def hints_file(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        photo(tmp)
        (tmp / "second.png").write_bytes((tmp / "photo.png").read_bytes())
        (tmp / "h.json").write_text(text)

    return write


def earlier_evaluation(tmp: Path) -> None:
    (tmp / "ev").mkdir()
    (tmp / "ev" / "metrics.json").write_text("{}")


def existing_weights_file(tmp: Path) -> None:
    (tmp / "w.json").write_text("{}")


def onnx_with(inputs: str, recipe: str) -> Callable[[Path], None]:
    """An ONNX graph (an identity) carrying ganforge's metadata, with its input named ``inputs``."""

    def write(tmp: Path) -> None:
        onnx = pytest.importorskip("onnx")
        from onnx import TensorProto, helper

        x = helper.make_tensor_value_info(inputs, TensorProto.FLOAT, [1, 1, 8, 8])
        y = helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 1, 8, 8])
        graph = helper.make_graph([helper.make_node("Identity", [inputs], ["target"])], "g", [x], [y])
        made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        helper.set_model_props(made, {"format": "ganforge-onnx", "recipe": recipe})
        onnx.save(made, str(tmp / "m.onnx"))
        photo(tmp)

    return write


def run_saved_by_two_processes(tmp: Path) -> None:
    recipe_with(TINY_RECIPE % "OUT")(tmp)
    assert main(["train", str(tmp / "r.yaml")]) == 0
    states = sorted((tmp / "run" / "state").glob("step-*"))
    saved = json.loads((states[-1] / "trainer.json").read_text())
    (states[-1] / "trainer.json").write_text(json.dumps({**saved, "num_processes": 2}))


def model_without_decoding(tmp: Path) -> None:
    model(tmp)


# --------------------------------------------------------------------------- the table


class Case(NamedTuple):
    argv: str  # split on spaces; {tmp} is the case's folder
    message: str  # a part of the one line on stderr
    code: int = 2
    setup: Callable[[Path], None] | None = None


# fmt: off
CASES = {
    # a file the user named is never replaced unasked, nor a folder taken for a file
    "export onto another checkpoint": Case("export {tmp}/m.safetensors -o {tmp}/other.safetensors", "other.safetensors' exists; pass --overwrite", setup=model_and_other_checkpoint),
    "export onto a text file": Case("export {tmp}/m.safetensors -o {tmp}/notes.txt", "notes.txt' exists; pass --overwrite", setup=model_and_notes),
    "export onto a folder": Case("export {tmp}/m.safetensors -o {tmp}/mdir", "mdir' is a folder; name the file to write", setup=model_and_folder),
    "export of an ONNX file": Case("export {tmp}/m.onnx -o {tmp}/x.safetensors", "is not a .safetensors checkpoint; export takes one", setup=onnx_named_file),
    "eval over an earlier evaluation": Case("eval {tmp}/m.safetensors -o {tmp}/ev --data builtin:samples", "metrics.json' exists; pass --overwrite", setup=lambda t: (model(t), earlier_evaluation(t))),
    "rebalance over a file": Case("rebalance builtin:shapes -o {tmp}/w.json", "w.json' exists; pass --overwrite", setup=existing_weights_file),
    # no weights that would make every picture wrong, no secret copied into a model
    "export of NaN EMA weights": Case("export {tmp}/m.safetensors -o {tmp}/out.safetensors", "holds NaN or infinite values", setup=nan_ema_checkpoint),
    "environment in a recipe file": Case("train {tmp}/r.yaml", "recipe key 'name' calls a resolver", setup=recipe_with("name: ${oc.env:SECRET_TOKEN}\n")),
    "environment in an override": Case("train {tmp}/r.yaml train.out_dir=${oc.env:HOME}", "recipe key 'train.out_dir' calls a resolver", setup=recipe_with("seed: 1\n")),
    "YAML alias bomb": Case("train {tmp}/r.yaml", "expands to more than 100,000 values", setup=recipe_with(ALIAS_BOMB)),
    "a phase that does not exist": Case("train {tmp}/r.yaml phases.9.steps=3", "there is no phase 9 (phases: 0: only)", setup=recipe_with(TINY_RECIPE % "OUT")),
    "fp16 on the CPU": Case("train {tmp}/r.yaml train.mixed_precision=fp16", "fp16, which needs a GPU", setup=recipe_with(TINY_RECIPE % "OUT")),
    "resume on another process count": Case("train {tmp}/r.yaml --resume", "saved by a run on 2 process(es) and this one has 1", setup=run_saved_by_two_processes),
    # inputs that are not pictures, and work without bound
    "a missing input": Case("colorize {tmp}/missing.jpg -o {tmp}/out.png", "input '{tmp}/missing.jpg' does not exist"),
    "a device as input": Case("colorize /dev/zero -o {tmp}/out.png", "'/dev/zero' is neither a regular file nor a folder"),
    "a 1 x 5000 strip": Case("colorize {tmp}/m.safetensors {tmp}/photo.png -o {tmp}/out.png", "more elongated than 20:1", code=1, setup=lambda t: (model(t), strip(t))),
    "a huge working size": Case("colorize {tmp}/photo.png -o {tmp}/out.png --size 100000", "argument --size: must be in [16, 4096]"),
    "a huge thread count": Case("colorize {tmp}/photo.png -o {tmp}/out.png --threads 100000", "argument --threads: must be in [1, 1024]"),
    "a port past 65535": Case("app --port 70000", "argument --port: must be in [0, 65535]"),
    "an IPv6 host": Case("app --host ::1", "--host '::1' is an IPv6 address"),
    "a reference that does not exist": Case("colorize {tmp}/photo.png -o {tmp}/out.png --reference {tmp}/nope.jpg", "--reference '{tmp}/nope.jpg' is not a file", setup=photo),
    "a reference strength past 10": Case("colorize {tmp}/photo.png -o {tmp}/out.png --reference-strength 11", "argument --reference-strength: must be in [0, 10]"),
    "hints for a model that takes none": Case("colorize {tmp}/photo.png -o {tmp}/out.png --hints {tmp}/h.json", "this model takes no hints", setup=hints_file('[{"x": 1, "y": 2, "color": "#ff0000"}]')),
    "a hints file that is not JSON": Case("colorize {tmp}/photo.png -o {tmp}/out.png --hints {tmp}/h.json", "hints file '{tmp}/h.json' is not JSON", setup=hints_file("x=1")),
    "a hint that is not a color": Case("colorize {tmp}/photo.png -o {tmp}/out.png --hints {tmp}/h.json", "hint 0: color must be written #rrggbb", setup=hints_file('[{"x": 1, "y": 2, "color": "blue"}]')),
    "hints for several inputs": Case("colorize {tmp}/photo.png {tmp}/second.png -o {tmp}/out --hints {tmp}/h.json", "--hints are points on one photo", setup=hints_file("[]")),
    "an unknown metric": Case("eval --metrics nosuch", "--metrics: unknown metric 'nosuch'"),
    # files that claim to be ganforge's and are not
    "a foreign ONNX graph with ganforge metadata": Case("colorize {tmp}/m.onnx {tmp}/photo.png -o {tmp}/out.png", "not the graph ganforge exports", setup=onnx_with("x", "{}")),
    "ONNX recipe metadata that is not JSON": Case("colorize {tmp}/m.onnx {tmp}/photo.png -o {tmp}/out.png", "its ganforge metadata is damaged", setup=onnx_with("gray", "not json")),
    # results that would be wrong with exit 0
    "compare where the only model fails": Case("compare {tmp}/m.safetensors@vividness=0.5 --eval builtin:samples --images 2 -o {tmp}/cmp", "no model gave a result", code=1, setup=model_without_decoding),
}
# fmt: on


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_gets_one_line_and_its_exit_code(case, tmp_path, capsys, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if case.setup:
        case.setup(tmp_path)
        capsys.readouterr()
        caplog.clear()
    argv = [part.replace("{tmp}", str(tmp_path)) for part in case.argv.split(" ")]
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own errors
        code = exited.code
    err = capsys.readouterr().err + "".join(f"{r.getMessage()}\n" for r in caplog.records if r.levelname == "WARNING")
    errors = [line for line in err.splitlines() if "error:" in line or "skipping" in line]
    assert code == case.code, err
    assert len(errors) == 1 and case.message.replace("{tmp}", str(tmp_path)) in errors[0], err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- faults a table row cannot stage


def test_colorize_takes_a_model_folder_as_its_checkpoint(tmp_path):
    import numpy as np
    from PIL import Image

    import ganforge

    folder = tmp_path / "my_model"
    folder.mkdir()
    checkpoint(folder, {"name": "unet", "width": 8, "depth": 2}, name="model")  # folder/model.safetensors
    photo(tmp_path)
    assert main(["colorize", str(folder), str(tmp_path / "photo.png"), "-o", str(tmp_path / "x.png")]) == 0
    written = np.asarray(Image.open(tmp_path / "x.png"))
    expected = np.asarray(ganforge.load(folder)(Image.open(tmp_path / "photo.png")))
    assert np.abs(written.astype(int) - expected).max() <= 1  # the folder's model, not the default one
    assert np.abs(written.astype(int) - np.asarray(ganforge.load()(Image.open(tmp_path / "photo.png")))).max() > 1


def test_onnx_export_to_a_location_it_cannot_write_says_so(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    import os

    model(tmp_path)
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("cannot write")))
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    assert main(["export", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert "m.onnx" in err and "permission denied" in err.lower() and "cannot be exported" not in err


def test_a_full_disk_while_saving_training_state_is_one_line_and_keeps_the_last_state(tmp_path, monkeypatch, capsys):
    from accelerate import Accelerator

    recipe_with(TINY_RECIPE % "OUT")(tmp_path)
    calls = []

    def save_state(self, path):
        calls.append(path)
        if len(calls) > 1:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file data/0: file write failed"
            )
        return original(self, path)

    original = Accelerator.save_state
    monkeypatch.setattr(Accelerator, "save_state", save_state)
    assert main(["train", str(tmp_path / "r.yaml")]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert (
        len(errors) == 1
        and "could not save the training state" in errors[0]
        and "the last complete state is kept" in errors[0]
    )
    assert [p.name for p in (tmp_path / "run" / "state").iterdir()] == ["step-00000001"]


def test_help_and_usage_errors_import_neither_torch_nor_the_component_plugins():
    import subprocess
    import sys

    probe = (
        "import sys\nfrom ganforge.cli import main\n"
        "for argv in (['--help'], ['colorize', 'missing.jpg', '-o', 'x.png']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'ganforge_plugins.zhang', 'ganforge.inference.colorizer') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "rebalance" in result.stdout  # the in-tree plugins' commands are listed all the same
