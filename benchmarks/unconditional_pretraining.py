"""Does unconditional GAN pretraining speed up colorization? Steps to a fixed validation L1, with and without.

    python benchmarks/unconditional_pretraining.py [--steps 300] [--pretrain 300] [--every 25] [--data shapes]

Both runs use the same seed, data, U-Net (width 16, latent 64) and PatchGAN and
the same colorization phase (L1 100 + non-saturating GAN). One first trains the
decoder and the adversary unconditionally on color images for ``--pretrain``
steps. Validation L1 of the chroma (LAB a, b in network units) is measured
every ``--every`` colorization steps on 32 held-out images; the table gives the
colorization steps each run needs to reach the L1 the plain run ends with.
"""

from __future__ import annotations

import argparse
import tempfile
import types
from pathlib import Path

import torch

from ganforge import hookimpl
from ganforge.core.components import Prediction
from ganforge.core.config import load_recipe
from ganforge.core.plugins import get_plugin_manager, get_registries
from ganforge.data.sources import validation_batch
from ganforge.training.trainer import Trainer

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "unconditional_pretrain.yaml"


def run(pretrain: int, steps: int, every: int, data: str, validation: dict) -> dict[int, float]:
    """Colorization step -> validation L1, for a run with ``pretrain`` unconditional steps first."""
    curve: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            "data.size=64", "data.batch_size=8", "data.num_workers=1", "generator.width=16",
            f"data.train=builtin:{data}", f"data.val=builtin:{data}", f"train.out_dir={tmp}",
            "train.sample_every=100000", "train.checkpoint_every=100000",
            f"phases.0.steps={max(pretrain, 1)}", f"phases.1.steps={steps}",
        ]  # fmt: skip
        recipe = load_recipe(RECIPE, overrides)
        if not pretrain:
            recipe.phases = recipe.phases[1:]  # colorization only
        trainer = Trainer(recipe)
        start = trainer.phases[-1].start

        def measure(trainer_: Trainer, step: int) -> None:
            colorizing = step - start
            if colorizing >= 0 and colorizing % every == 0:
                model = trainer_.ema.module if trainer_.ema is not None else trainer_.generator
                with torch.no_grad():
                    model.eval()
                    prediction = Prediction.wrap(model(validation["gray"])).target
                    model.train()
                curve[colorizing] = float((prediction - validation["target"]).abs().mean())

        plugin = types.SimpleNamespace(ganforge_after_step=hookimpl(lambda trainer, step: measure(trainer, step)))
        get_plugin_manager().add_plugin(plugin, name=f"measure-{pretrain}")
        measure(trainer, start)
        try:
            trainer.fit()
        finally:
            get_plugin_manager().unregister(name=f"measure-{pretrain}")
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="colorization steps (both runs)")
    parser.add_argument("--pretrain", type=int, default=300, help="unconditional steps before colorizing")
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--data", default="shapes", choices=["shapes", "samples"])
    args = parser.parse_args()
    lab = get_registries().color_spaces.create("lab")
    held_out = (
        get_registries().sources.create("shapes", count=32, seed=1)
        if args.data == "shapes"
        else get_registries().sources.create("samples")
    )
    validation = validation_batch(held_out, lab, size=64, count=32)
    plain = run(0, args.steps, args.every, args.data, validation)
    pretrained = run(args.pretrain, args.steps, args.every, args.data, validation)
    target = plain[max(plain)]

    def steps_to(curve: dict[int, float]) -> int | None:
        return next((s for s, value in sorted(curve.items()) if value <= target), None)

    print(
        f"data: builtin:{args.data}; validation L1 of a,b on 32 held-out images; target = final L1 of the plain run ({target:.4f})"
    )
    print(f"{'colorization step':>18} {'plain':>10} {'pretrained':>11}")
    for step in sorted(plain):
        print(f"{step:18d} {plain[step]:10.4f} {pretrained.get(step, float('nan')):11.4f}")
    reach_plain, reach_pre = steps_to(plain), steps_to(pretrained)
    ratio = f"{reach_plain / reach_pre:.2f}x" if reach_plain and reach_pre else "n/a"
    print(f"steps to reach {target:.4f}: plain {reach_plain}, with {args.pretrain} unconditional steps first {reach_pre} "
          f"(speed-up {ratio}; the unconditional steps themselves are not counted)")  # fmt: skip


if __name__ == "__main__":
    main()
