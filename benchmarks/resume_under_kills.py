"""Resume exactness under kill -9 at random moments, for each kind of random draw a training step makes.

    python benchmarks/resume_under_kills.py [--runs 20] [--variants plain noise latent]

For each variant of a small quickstart recipe (pretraining, then L1 + PatchGAN; a noise input with
a mode-seeking loss that draws a second noise; a latent generator with an unconditional phase), one
run trains straight through as the reference. Then ``--runs`` times, a run of the same recipe kills
itself with SIGKILL at a random moment of its training: a plugin picks a random step and, from
there, a random delay of up to 60 ms while the training goes on, so kills land inside steps and
inside checkpoint writes (states are saved every two steps). The run is resumed with ``--resume``
until it ends and its logged losses are compared with the reference's. The table gives how many
runs resumed exactly (relative difference at most 1e-5 on every loss of every step) and the
largest difference seen.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"
# the quickstart (pretraining, then L1 + PatchGAN) made small enough for many runs in minutes
SMALL = [
    "data.train=builtin:shapes", "data.val=builtin:shapes", "data.size=32", "data.batch_size=4", "data.num_workers=1",
    "data.val_images=2", "generator.width=8", "generator.depth=3", "adversaries.patch.width=8",
    "phases.0.steps=10", "phases.1.steps=14", "train.checkpoint_every=2", "train.sample_every=100", "train.log_every=1",
]  # fmt: skip
VARIANTS = {
    "plain": [],
    "noise": ["generator.noise=4", "phases.1.losses={l1: 100.0, nonsaturating: 1.0, mode_seeking: 1.0}"],
    "latent": [
        "generator.latent=8",
        "phases.0={name: unconditional, steps: 10, mode: unconditional, train: [generator, patch], losses: {nonsaturating: 1.0}}",
    ],
}


KILLER = """
import os, signal, threading, time
from ganforge import hookimpl

@hookimpl
def ganforge_after_step(step):
    if str(step) == os.environ.get("KILL_AT_STEP"):
        delay = float(os.environ["KILL_DELAY"])
        threading.Thread(target=lambda: (time.sleep(delay), os.kill(os.getpid(), signal.SIGKILL)), daemon=True).start()
"""


def install_killer(root: Path) -> Path:
    """The killing plugin as a minimal installed distribution (module + dist-info with an entry point)."""
    plugins = root / "plugins"
    (plugins / "killer-0.1.dist-info").mkdir(parents=True)
    (plugins / "resume_killer.py").write_text(KILLER)
    (plugins / "killer-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: killer\nVersion: 0.1\n")
    (plugins / "killer-0.1.dist-info" / "entry_points.txt").write_text("[ganforge]\nkiller = resume_killer\n")
    return plugins


TOTAL_STEPS = 24


def train(out_dir: Path, overrides: list[str], env: dict[str, str], *, resume: bool = False) -> int:
    command = [
        sys.executable,
        "-m",
        "ganforge",
        "train",
        str(QUICKSTART),
        *SMALL,
        *overrides,
        f"train.out_dir={out_dir}",
    ]
    command += ["--resume"] if resume else []
    return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", **env},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode  # fmt: skip


def losses(run: Path) -> dict[int, dict[str, float]]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["step"]: {k: v for k, v in r.items() if k.startswith("loss/")} for r in records}


def largest_difference(got: dict, want: dict) -> float:
    if got.keys() != want.keys():
        return float("inf")
    return max(abs(got[s][k] - v) / max(abs(v), 1e-7) for s in want for k, v in want[s].items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="killed-and-resumed runs per variant (default 20)")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plugins = {"PYTHONPATH": str(install_killer(root))}
        for variant in args.variants:
            reference = root / f"{variant}-reference"
            if train(reference, VARIANTS[variant], plugins) != 0:
                sys.exit(f"the reference run of '{variant}' failed")
            want = losses(reference)
            killed = exact = 0
            worst = 0.0
            for index in range(args.runs):
                run = root / f"{variant}-{index}"
                kill = {
                    "KILL_AT_STEP": str(rng.randint(1, TOTAL_STEPS - 1)),
                    "KILL_DELAY": f"{rng.uniform(0, 0.06):.3f}",
                }
                killed += train(run, VARIANTS[variant], {**plugins, **kill}) == -signal.SIGKILL
                if train(run, VARIANTS[variant], plugins, resume=True) != 0:
                    worst = float("inf")
                    continue
                difference = largest_difference(losses(run), want)
                worst = max(worst, difference)
                exact += difference <= 1e-5
                print(f"{variant} run {index + 1}/{args.runs} (kill after step {kill['KILL_AT_STEP']} "
                      f"+ {kill['KILL_DELAY']} s): difference {difference:.2e}", file=sys.stderr)  # fmt: skip
            rows.append((variant, args.runs, killed, exact, worst))
    print(f"{'variant':<8} {'runs':>5} {'killed mid-run':>15} {'resumed exactly':>16} {'largest rel. diff':>18}")
    for variant, runs, killed, exact, worst in rows:
        print(f"{variant:<8} {runs:>5} {killed:>15} {exact:>10} ({exact / runs:.0%}) {worst:>18.2e}")


if __name__ == "__main__":
    main()
