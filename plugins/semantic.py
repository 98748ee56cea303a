"""Metrics seen through an ImageNet classifier: ``semantic_agreement`` and ``fd_mobilenet``.

*semantic_agreement*: Zhang et al. 2016 judged colorizations by whether an
ImageNet classifier recognises them as well as the originals. Here: the share
of images whose top-1 class on the colorization equals the top-1 class on the
original. Its row for the *gray* baseline is the same check on the gray photo,
so a model that beats it makes the classifier agree more often than no color does.

*fd_mobilenet* (FD-MobileNetV2): the Fréchet distance between Gaussians fitted
to the classifier's pooled 1280-d features of the colorizations and of the
originals, as FID does with Inception features. It is **not** comparable with
Inception FID numbers from papers, and it depends on the number of images; it
is comparable across every row of one ganforge report (same images, same count).

The classifier is MobileNetV2 with ImageNet weights from a safetensors file
(torchvision key names): ``--metric-option semantic_agreement.weights=FILE``
(``fd_mobilenet.weights=FILE`` alike). Without it the metric applies to no
image and tables leave it out; with it, the file's sha256 goes into metrics.json.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge import hookimpl
from ganforge.core.components import EvalBatch, Metric
from ganforge.core.registry import Registries
from ganforge_plugins.mobilenet import MobileNetV2Classifier, load_torchvision_weights


class ImageNetMetric(Metric):
    """A metric computed on a MobileNetV2 ImageNet classifier's view of the pictures."""

    name = ""  # the registered name, for the option named in errors

    def __init__(self, weights: str | None = None, size: int = 224, batch_size: int = 32) -> None:
        if size < 32 or batch_size < 1:
            raise ValueError("size must be at least 32 and batch_size positive")
        self.weights, self.size, self.batch_size = weights, size, batch_size
        self.classifier: MobileNetV2Classifier | None = None
        self.sha256 = ""
        if weights is not None:
            self.classifier = MobileNetV2Classifier().eval()
            self.sha256 = load_torchvision_weights(self.classifier, weights, f"--metric-option {self.name}.weights")

    def details(self) -> dict[str, str]:
        if self.classifier is None:
            return {}
        return {
            "classifier": "MobileNetV2 (ImageNet-1k)",
            "weights": str(self.weights),
            "weights_sha256": self.sha256,
            "input": f"{self.size} px",
        }

    def _resized(self, rgb: torch.Tensor):
        """sRGB ``(B, 3, H, W)`` in [0, 1], in chunks resized to the classifier's input."""
        for chunk in rgb.float().split(self.batch_size):
            yield F.interpolate(
                chunk, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
            ).clamp(0, 1)

    @torch.inference_mode()
    def top1(self, rgb: torch.Tensor) -> torch.Tensor:
        """ImageNet class indices ``(B,)`` of sRGB pictures."""
        assert self.classifier is not None
        return torch.cat([self.classifier(chunk).argmax(1) for chunk in self._resized(rgb)])

    @torch.inference_mode()
    def features(self, rgb: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features ``(B, 1280)`` of sRGB pictures."""
        assert self.classifier is not None
        return torch.cat([self.classifier.pooled_features(chunk) for chunk in self._resized(rgb)])


class SemanticAgreement(ImageNetMetric):
    """Share of images whose ImageNet top-1 class is the same on the colorization as on the original."""

    name = "semantic_agreement"

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        if self.classifier is None:
            return torch.full((batch.prediction.shape[0],), float("nan"))
        return (self.top1(batch.prediction) == self.top1(batch.truth)).float()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``(N, D)`` and ``b`` ``(M, D)``.

    ``|mu_a - mu_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^1/2)``; the trace of the root is
    taken from the eigenvalues of the symmetric ``C_a^1/2 C_b C_a^1/2``, which
    stays stable when few images make the covariances singular.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two feature vectors on each side")
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(float(distance), 0.0)  # rounding can leave a hair below 0 for identical sets


class FrechetDistanceMobileNet(ImageNetMetric):
    """FD-MobileNetV2: Fréchet distance between the colorizations' and the originals' ImageNet features (0 = alike)."""

    name = "fd_mobilenet"
    higher_is_better = False
    per_image = False

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        if self.classifier is None or len(batch.prediction) < 2:
            return torch.tensor(float("nan"))
        return torch.tensor(frechet_distance(self.features(batch.prediction), self.features(batch.truth)))


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.metrics.add("semantic_agreement", SemanticAgreement)
    registries.metrics.add("fd_mobilenet", FrechetDistanceMobileNet)
