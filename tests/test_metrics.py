"""Each metric against an independent reference written here with numpy / scikit-image."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage.metrics import peak_signal_noise_ratio

from ganforge.evaluation import metrics


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(3, 3, 12, 10, generator=generator)
    prediction = (truth + 0.1 * torch.randn(3, 3, 12, 10, generator=generator)).clamp(0, 1)
    return prediction, truth


def hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).double().numpy()


def test_psnr_matches_scikit_image(pair):
    prediction, truth = pair
    expected = [peak_signal_noise_ratio(hwc(t), hwc(p), data_range=1.0) for p, t in zip(prediction, truth)]
    np.testing.assert_allclose(metrics.psnr(prediction, truth).numpy(), expected, rtol=1e-5)


def reference_colorfulness(image: np.ndarray) -> float:
    r, g, b = (image * 255.0).transpose(2, 0, 1)
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def test_colorfulness_matches_hasler_suesstrunk(pair):
    images = pair[1]
    expected = [reference_colorfulness(hwc(image)) for image in images]
    np.testing.assert_allclose(metrics.colorfulness(images).numpy(), expected, rtol=1e-4)
    gray = images[:, :1].repeat(1, 3, 1, 1)
    assert metrics.colorfulness(gray).abs().max() < 1e-3


def test_auc_matches_a_numpy_reference_and_its_weighted_variant(pair):
    prediction, truth = pair
    weights = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(1))
    for pixel_weights in (None, weights):
        expected = []
        for i, (p, t) in enumerate(zip(prediction, truth)):
            error = np.linalg.norm(skcolor.rgb2lab(hwc(p))[..., 1:] - skcolor.rgb2lab(hwc(t))[..., 1:], axis=-1).ravel()
            w = np.ones_like(error) if pixel_weights is None else pixel_weights[i].double().numpy().ravel()
            expected.append(np.mean([(w * (error <= k)).sum() / w.sum() for k in range(151)]))
        np.testing.assert_allclose(metrics.auc(prediction, truth, pixel_weights).numpy(), expected, atol=1e-4)
    assert torch.allclose(metrics.auc(truth, truth), torch.ones(3))


def test_diversity_is_the_mean_pairwise_ab_distance():
    samples = torch.rand(4, 2, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    ab = [np.stack([skcolor.rgb2lab(hwc(image))[..., 1:] for image in sample]) for sample in samples]
    expected = np.mean(
        [np.linalg.norm(ab[i] - ab[j], axis=-1).mean(axis=(1, 2)) for i, j in itertools.combinations(range(4), 2)],
        axis=0,
    )
    np.testing.assert_allclose(metrics.diversity(samples).numpy(), expected, rtol=1e-4)
    assert torch.allclose(metrics.diversity(samples[:1].repeat(3, 1, 1, 1, 1)), torch.zeros(2))
    with pytest.raises(ValueError, match="at least two samples"):
        metrics.diversity(samples[:1])
