from __future__ import annotations

import pytest
import torch

from ganforge.core.errors import RecipeError
from ganforge_plugins.ebgan import Energy, EnergyAutoencoder, EnergyLoss, pull_away


def test_pull_away_is_zero_for_orthogonal_and_one_for_identical_codes():
    assert float(pull_away(torch.eye(4))) == pytest.approx(0.0)
    assert float(pull_away(torch.ones(4, 3))) == pytest.approx(1.0)


def test_losses_follow_the_paper():
    loss = EnergyLoss(margin=1.0, pullaway=0.5)
    real = Energy(torch.tensor([0.2, 0.4]), torch.eye(2))
    fake = Energy(torch.tensor([0.5, 2.0]), torch.ones(2, 2))
    # adversary: D(x) + [m - D(G(z))]^+
    assert float(loss.adversary_loss(real, fake)) == pytest.approx(0.3 + (0.5 + 0.0) / 2)
    # generator: D(G(z)) + weight * PT
    assert float(loss.generator_loss(fake)) == pytest.approx(1.25 + 0.5 * 1.0)
    with pytest.raises(RecipeError, match="loss 'ebgan' needs energy-based adversaries"):
        loss.generator_loss(torch.zeros(2))


def test_a_short_run_lowers_real_energy_and_raises_fake_energy_to_the_margin():
    torch.manual_seed(0)
    adversary = EnergyAutoencoder(in_channels=3, width=8, layers=2, code=8)
    loss = EnergyLoss(margin=0.5)
    optimizer = torch.optim.Adam(adversary.parameters(), lr=2e-3)
    gray = torch.nn.functional.interpolate(torch.rand(16, 1, 4, 4), size=16, mode="bilinear") * 2 - 1  # smooth images
    real = 0.4 * torch.tanh(3 * gray).repeat(1, 2, 1, 1)  # colors that follow the gray structure
    fake = torch.rand(16, 2, 16, 16) * 0.8 - 0.4  # colors that do not
    with torch.no_grad():
        start = float(adversary(gray, real).energy.mean())
    for _ in range(150):
        optimizer.zero_grad()
        loss.adversary_loss(adversary(gray, real), adversary(gray, fake)).backward()
        optimizer.step()
    with torch.no_grad():
        real_energy, fake_energy = (
            float(adversary(gray, real).energy.mean()),
            float(adversary(gray, fake).energy.mean()),
        )
    assert real_energy < 0.2 * start  # real colorizations become easy to reconstruct
    assert 0.95 * 0.5 <= fake_energy <= 1.6 * 0.5  # generated ones are pushed up to the margin, not beyond bounds


def test_autoencoder_rejects_sizes_it_cannot_mirror():
    with pytest.raises(ValueError, match="divisible by 8"):
        EnergyAutoencoder(in_channels=2, layers=3)(torch.zeros(1, 1, 12, 12), torch.zeros(1, 1, 12, 12))
