"""What every shipped recipe costs to train on this machine: steps, seconds per step per phase, total.

    python benchmarks/recipe_cost.py [--steps 3] [recipes/gan.yaml ...]

Each phase is timed on its own (an adversarial step costs more than a pretraining
step), ``--steps`` steps after one warm-up step, on the recipe's own data and
batch size; the total is the sum over phases of steps x seconds per step.
Recipes whose data is not on this machine are listed as skipped. The table
printed at the end is README's "what a recipe costs" table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ganforge.core.config import load_recipe
from ganforge.core.errors import GanforgeError
from ganforge.training.trainer import Trainer, format_duration

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def seconds_per_step(trainer: Trainer, steps: int) -> list[float]:
    """Seconds per optimisation step of each phase, after one warm-up step in each."""
    batches = trainer._batches()
    timings = []
    for phase in trainer.phases:
        trainer.step = phase.start
        trainer._optimisation_step(phase, batches)  # warm-up: allocation, first-call overheads
        started = time.perf_counter()
        for _ in range(steps):
            trainer._optimisation_step(phase, batches)
        timings.append((time.perf_counter() - started) / steps)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "recipes", nargs="*", type=Path, help="recipes to time (default: every trainable one in recipes/)"
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps per phase (default 3)")
    args = parser.parse_args()
    paths = args.recipes or sorted(p for p in RECIPES.glob("*.yaml") if p.name != "base.yaml")
    rows = []
    for path in paths:
        with tempfile.TemporaryDirectory() as out_dir:
            try:
                recipe = load_recipe(path, [f"train.out_dir={out_dir}"])
                trainer = Trainer(recipe)
            except GanforgeError as exc:
                rows.append((path.name, "-", "-", f"skipped: {exc}"))
                continue
            timings = seconds_per_step(trainer, args.steps)
            total = sum(phase.steps * t for phase, t in zip(trainer.phases, timings))
            per_phase = ", ".join(f"{phase.name} {t:.2f}" for phase, t in zip(trainer.phases, timings))
            rows.append((path.name, str(trainer.total_steps), per_phase, format_duration(total)))
            print(f"{path.name}: {per_phase} s/step; about {format_duration(total)}", flush=True)
    print("\n| recipe | steps | s/step per phase | total |\n|---|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
