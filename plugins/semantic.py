"""Metric ``semantic_agreement``: does the colorization keep what the photo shows?

Zhang et al. 2016 judged colorizations by whether an ImageNet classifier
recognises them as well as the originals. Here: the share of images whose
top-1 class on the colorization equals the top-1 class on the original. Its
row for the *gray* baseline is the same check on the gray photo, so a model
that beats it makes the classifier agree more often than no color does.

The classifier is MobileNetV2 with ImageNet weights from a safetensors file
(torchvision key names): ``--metric-option semantic_agreement.weights=FILE``.
Without it the metric applies to no image and tables leave it out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge import hookimpl
from ganforge.components import EvalBatch, Metric
from ganforge.registry import Registries
from ganforge_plugins.mobilenet import MobileNetV2Classifier, load_torchvision_weights


class SemanticAgreement(Metric):
    """Share of images whose ImageNet top-1 class is the same on the colorization as on the original."""

    def __init__(self, weights: str | None = None, size: int = 224, batch_size: int = 32) -> None:
        if size < 32 or batch_size < 1:
            raise ValueError("size must be at least 32 and batch_size positive")
        self.weights, self.size, self.batch_size = weights, size, batch_size
        self.classifier: MobileNetV2Classifier | None = None
        self.sha256 = ""
        if weights is not None:
            self.classifier = MobileNetV2Classifier().eval()
            self.sha256 = load_torchvision_weights(self.classifier, weights, "--metric-option semantic_agreement.weights")

    def details(self) -> dict[str, str]:
        if self.classifier is None:
            return {}
        return {"classifier": "MobileNetV2 (ImageNet-1k)", "weights": str(self.weights), "weights_sha256": self.sha256, "input": f"{self.size} px"}

    @torch.inference_mode()
    def top1(self, rgb: torch.Tensor) -> torch.Tensor:
        """ImageNet class indices ``(B,)`` of sRGB pictures ``(B, 3, H, W)`` in [0, 1]."""
        assert self.classifier is not None
        classes = []
        for chunk in rgb.float().split(self.batch_size):
            chunk = F.interpolate(chunk, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
            classes.append(self.classifier(chunk.clamp(0, 1)).argmax(1))
        return torch.cat(classes)

    def __call__(self, batch: EvalBatch) -> torch.Tensor:
        if self.classifier is None:
            return torch.full((batch.prediction.shape[0],), float("nan"))
        return (self.top1(batch.prediction) == self.top1(batch.truth)).float()


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.metrics.add("semantic_agreement", SemanticAgreement)
