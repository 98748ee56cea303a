"""Two processes on the CPU over gloo, launched the way users launch on GPUs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import ganforge

from .conftest import write_distribution

REPO = Path(__file__).resolve().parents[1]

WHO_WRITES = """
from pathlib import Path
from ganforge import hookimpl

@hookimpl
def ganforge_checkpoint_written(trainer, path, step):
    Path(path).with_name(f"written-by-process-{trainer.accelerator.process_index}-step-{step}").touch()
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate launcher is not on PATH")
def test_accelerate_launch_trains_on_two_cpu_processes(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write_distribution(plugins, "who-writes", "who_writes", WHO_WRITES, "who_writes")
    out = tmp_path / "run"
    command = [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "ganforge", str(REPO / "recipes" / "quickstart.yaml"), "--max-steps", "4",
        "data.size=32", "data.batch_size=2", "data.num_workers=0", "data.val_images=2",
        "train.checkpoint_every=2", "train.sample_every=2", f"train.out_dir={out}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(plugins), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    state = out / "state" / "step-00000004"
    assert json.loads((state / "trainer.json").read_text())["num_processes"] == 2
    assert (state / "random_states_0.pkl").is_file() and (state / "random_states_1.pkl").is_file()
    written = sorted(p.name for p in out.glob("written-by-*"))
    assert written == ["written-by-process-0-step-2", "written-by-process-0-step-4"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-00000002.png", "step-00000004.png"]
    assert result.stdout.count("ganforge: trained 'quickstart' to step 4") == 1
    colorizer = ganforge.load(out / "model.safetensors")
    assert colorizer.recipe.name == "quickstart"


# One recipe per shape of phase DDP must handle beyond the quickstart's (per-channel adversaries, a
# pretraining phase): a latent generator with an unconditional phase (parameters idle in each phase),
# an autoencoder adversary, a noise input with a second draw in the loss.
PHASE_SHAPES = ["unconditional_pretrain", "ebgan", "diverse"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate launcher is not on PATH")
@pytest.mark.parametrize("recipe", PHASE_SHAPES)
def test_every_phase_shape_trains_on_two_processes(recipe, tmp_path):
    command = [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "ganforge", str(REPO / "recipes" / f"{recipe}.yaml"), "--max-steps", "4",
        "data.size=32", "data.batch_size=2", "data.num_workers=0", "data.val_images=2",
        "train.checkpoint_every=4", "train.sample_every=4", f"train.out_dir={tmp_path / 'run'}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "state" / "step-00000004" / "trainer.json").read_text())["num_processes"] == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate launcher is not on PATH")
def test_accelerate_launch_colorizes_a_folder_on_two_processes_each_file_once(tmp_path):
    import numpy as np
    from PIL import Image

    from .helpers import checkpoint

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a.png", "b.png", "c.png", "sub/d.png", "sub/e.png"]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (20, 28), dtype=np.uint8), "L").save(photos / name)
    model = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})
    launch = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "-m", "ganforge", "colorize", str(model), str(photos), "-o", str(tmp_path / "two")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("ganforge: wrote 5 file(s) on 2 processes") == 1  # one summary, for both shares
    single = subprocess.run(["ganforge", "colorize", str(model), str(photos), "-o", str(tmp_path / "one")],
                            capture_output=True, text=True, env=env, timeout=600, check=False)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    for name in names:  # every file written, once, and as one process would write it
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "two" / name)), np.asarray(Image.open(tmp_path / "one" / name))
        )
    assert sorted(str(p.relative_to(tmp_path / "two")) for p in (tmp_path / "two").rglob("*") if p.is_file()) == names
    again = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert again.returncode == 0 and "skipped 5 existing" in again.stdout  # resumable as on one process
