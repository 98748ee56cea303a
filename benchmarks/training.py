"""Trainer overhead and data-pipeline headroom for recipes/quickstart.yaml, measured side by side.

    python benchmarks/training.py [--steps 20] [--rounds 3] [--quickstart]

1. Step time of ganforge's Trainer against a hand-written PyTorch loop doing the
   same forward/backward/optimizer/EMA work on the same networks and batch
   (adversarial phase: generator + PatchGAN, L1 + non-saturating GAN loss).
   Rounds alternate between the two so machine noise hits both alike.
2. Images per second the DataLoader delivers (decode, crop, LAB split, with the
   recipe's workers) against images per second training consumes.
3. With --quickstart: the whole recipe end to end in a subprocess: wall time and
   peak resident memory of the largest process.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganforge.core.config import load_recipe
from ganforge.data.sources import training_loader
from ganforge.training.ema import ExponentialMovingAverage
from ganforge.training.trainer import Trainer

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"


def hand_written_loop(trainer: Trainer, batch: dict) -> callable:
    """The same work as the trainer's adversarial step, written as plainly as PyTorch allows."""
    generator = copy.deepcopy(trainer.accelerator.unwrap_model(trainer.generator))
    (slot,) = trainer.adversaries.values()
    adversary = copy.deepcopy(trainer.accelerator.unwrap_model(slot.network))
    train = trainer.recipe.train
    g_opt = torch.optim.Adam(generator.parameters(), lr=train.lr_generator, betas=tuple(train.betas))
    d_opt = torch.optim.Adam(adversary.parameters(), lr=train.lr_adversary, betas=tuple(train.betas))
    ema = ExponentialMovingAverage(generator, train.ema)
    gray, target = batch["gray"], batch["target"]

    def step() -> None:
        fake = generator(gray)
        d_real, d_fake = adversary(gray, target), adversary(gray, fake.detach())
        d_loss = torch.nn.functional.softplus(-d_real).mean() + torch.nn.functional.softplus(d_fake).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        adversary.requires_grad_(False)
        g_loss = 100.0 * (fake - target).abs().mean() + torch.nn.functional.softplus(-adversary(gray, fake)).mean()
        adversary.requires_grad_(True)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        ema.update(generator)
        g_loss.item(), d_loss.item()  # the trainer reads its losses too

    return step


def timed(step: callable, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quickstart", action="store_true", help="also run the whole recipe end to end")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(RECIPE, [f"train.out_dir={tmp}/run"])
        trainer = Trainer(recipe)
        phase = trainer.phases[-1]  # adversarial
        batch = next(trainer._batches())
        fixed = itertools.repeat(batch)
        ours = lambda: trainer._optimisation_step(phase, fixed)  # noqa: E731
        theirs = hand_written_loop(trainer, batch)
        ours(), theirs()  # warm-up
        times = {"ganforge Trainer": [], "hand-written loop": []}
        for _ in range(args.rounds):
            times["ganforge Trainer"].append(timed(ours, args.steps))
            times["hand-written loop"].append(timed(theirs, args.steps))
        step_time = {name: min(values) for name, values in times.items()}
        overhead = step_time["ganforge Trainer"] / step_time["hand-written loop"] - 1

        data = recipe.data
        loader = training_loader(
            trainer.train_source, trainer.color_space, size=data.size, batch_size=data.batch_size,
            seed=recipe.seed, num_workers=data.num_workers,
        )  # fmt: skip
        batches = iter(loader)
        for _ in range(5):  # start the workers, fill the prefetch queue
            next(batches)
        count = 60
        start = time.perf_counter()
        images = sum(next(batches)["gray"].shape[0] for _ in range(count))
        delivered = images / (time.perf_counter() - start)
        consumed = data.batch_size / step_time["ganforge Trainer"]

    print(f"recipe: {RECIPE.name} (adversarial phase), batch {data.batch_size} x {data.size}px, "
          f"torch threads {torch.get_num_threads()}, best of {args.rounds} rounds x {args.steps} steps")  # fmt: skip
    print(f"{'measure':<44} {'value':>12} {'ratio':>10}")
    print(f"{'step time, hand-written loop (ms)':<44} {step_time['hand-written loop'] * 1e3:12.1f} {1.0:10.3f}")
    print(f"{'step time, ganforge Trainer (ms)':<44} {step_time['ganforge Trainer'] * 1e3:12.1f} "
          f"{1 + overhead:10.3f}   overhead {overhead * 100:+.1f}% (target <= 5%)")  # fmt: skip
    print(f"{'images/s consumed by training':<44} {consumed:12.1f} {1.0:10.3f}")
    print(f"{f'images/s delivered by the loader ({data.num_workers} workers)':<44} {delivered:12.1f} "
          f"{delivered / consumed:10.2f}   (target >= 3x)")  # fmt: skip

    if args.quickstart:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ganforge", "train", str(RECIPE), f"train.out_dir={tmp}/run"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            minutes = (time.perf_counter() - start) / 60
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"{'quickstart end to end (min)':<44} {minutes:12.2f} {minutes / 5:10.2f}   of the 5 min target")
        print(
            f"{'quickstart peak RSS, largest process (GiB)':<44} {peak_gib:12.2f} {peak_gib / 3:10.2f}   of the 3 GiB target"
        )


if __name__ == "__main__":
    main()
