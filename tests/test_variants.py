"""Noise with mode seeking, and unconditional pretraining, inside the trainer."""

from __future__ import annotations

import pytest
import torch

from ganforge.core.components import GeneratorContext, Prediction
from ganforge.core.config import load_recipe
from ganforge.core.errors import RecipeError
from ganforge.core.plugins import get_registries
from ganforge.training.trainer import Trainer
from ganforge_plugins.diversity import ModeSeekingLoss


def unet(**options):
    return get_registries().generators.create("unet", in_channels=1, out_channels=2, width=8, depth=3, **options)


def test_mode_seeking_rewards_a_generator_that_uses_its_noise():
    gray = torch.rand(4, 1, 16, 16)
    noise = torch.randn(4, 8)
    loss = ModeSeekingLoss()

    def value(generator):
        prediction = Prediction.wrap(generator(gray, noise))
        return float(loss(GeneratorContext(gray, torch.zeros(4, 2, 16, 16), prediction, noise, generator)))

    ignores_noise = lambda g, z=None: torch.tanh(g.repeat(1, 2, 1, 1))  # noqa: E731
    uses_noise = lambda g, z: torch.tanh(g.repeat(1, 2, 1, 1) + z[:, :1, None, None])  # noqa: E731
    assert value(uses_noise) < 10 < value(ignores_noise)
    with pytest.raises(RecipeError, match="needs a generator with a noise input"):
        loss(GeneratorContext(gray, gray, Prediction(gray), None, ignores_noise))


def test_noise_changes_the_colorization():
    generator = unet(noise=8).eval()
    gray = torch.rand(1, 1, 16, 16)
    a, b = generator(gray, torch.randn(1, 8)), generator(gray, torch.randn(1, 8))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(generator(gray), generator(gray, torch.zeros(1, 8)))  # no noise = zero noise


def test_unconditional_generation_draws_whole_color_images():
    generator = unet(latent=16)
    out = generator(torch.zeros(2, 1, 20, 20), latent=torch.randn(2, 16))
    assert out.target.shape == (2, 2, 20, 20) and out.extras["gray"].shape == (2, 1, 20, 20)
    with pytest.raises(ValueError, match="no latent input"):
        unet()(torch.zeros(1, 1, 8, 8), latent=torch.randn(1, 4))


def test_unconditional_phase_trains_the_decoder_and_leaves_the_encoder_for_colorization(tiny_recipe):
    recipe = load_recipe(
        tiny_recipe,
        [
            "generator.latent=16",
            "phases.0={name: unconditional, steps: 3, mode: unconditional, train: [generator, a, b], losses: {nonsaturating: 1.0}}",
        ],
    )
    trainer = Trainer(recipe)
    network = trainer.accelerator.unwrap_model(trainer.generator)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    adversary_before = trainer.adversaries["a"].network.body[0].weight.clone()
    batches = trainer._batches()
    for _ in range(3):
        trainer._optimisation_step(trainer.phases[0], batches)
    after = network.state_dict()
    assert torch.equal(before["stem.0.weight"], after["stem.0.weight"])  # the encoder saw no gradient
    assert not torch.equal(before["head.weight"], after["head.weight"])  # the decoder learned to draw
    assert not torch.equal(before["from_latent.weight"], after["from_latent.weight"])
    assert not torch.equal(adversary_before, trainer.adversaries["a"].network.body[0].weight)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["phases.0.mode=unconditional"], r"phase 'pretrain' is unconditional but the generator has no latent input"),
        (
            ["generator.latent=8", "phases.0.mode=unconditional"],
            r"'phases.0.losses.l1': an unconditional phase has no ground truth",
        ),
        (["phases.0.mode=dream"], r"recipe key 'phases.0.mode' must be one of colorize, unconditional"),
    ],
)
def test_bad_unconditional_phases_fail_before_training(tiny_recipe, overrides, message):
    with pytest.raises(RecipeError, match=message):
        Trainer(load_recipe(tiny_recipe, overrides))


def test_ebgan_adversaries_per_channel_train_in_the_trainer(tiny_recipe):
    recipe = load_recipe(
        tiny_recipe,
        [
            "adversaries.a={name: ebgan, channels: [a], width: 8, layers: 2}",
            "adversaries.b={name: ebgan, channels: [b], width: 8, layers: 2}",
            "phases.1.losses={l1: 10.0, ebgan: {margin: 0.5}}",
            "train.max_steps=4",
        ],
    )
    trainer = Trainer(recipe)
    trainer.fit()
    assert trainer.step == 4
