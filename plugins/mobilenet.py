"""Generator ``mobilenet_unet``: an ImageNet-pretrained MobileNetV2 encoder under a U-Net decoder.

A colorizer needs to know what it looks at (grass is green, skies are blue,
a stop sign is red); a network trained from scratch on a few thousand photos
does not. MobileNetV2 (Sandler et al. 2018) trained on ImageNet does, and it is
cheap enough for a CPU. Its module tree here is torchvision's
``mobilenet_v2().features``, so ImageNet weights with torchvision's key names
(``features.0.0.weight`` ...) load with ``strict`` checking.

The encoder's batch norms stay in inference mode during training: pretrained
statistics (or, in weights with folded batch norm, identity statistics) must
not be replaced by those of small colorization batches. Their affine
parameters still learn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganforge import hookimpl
from ganforge.core.errors import RecipeError
from ganforge.core.registry import Registries
from ganforge_plugins.unet import HintInput, pad_to_multiple, with_noise

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (expansion t, output channels c, repeats n, first stride s): the MobileNetV2 paper's table 2.
INVERTED_RESIDUAL_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Index into ``features`` of the last block at strides 2, 4, 8, 16 and 32, and its channel count.
SKIP_STAGES = ((1, 16), (3, 24), (6, 32), (13, 96), (18, 1280))
STEM_CHANNELS = 32  # the first convolution's output, at stride 2


def conv_bn_relu6(
    in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation``: conv (no bias), batch norm, ReLU6."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); residual when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = [conv_bn_relu6(in_channels, hidden, 1)] if expansion != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


def mobilenet_v2_features() -> nn.Sequential:
    """torchvision's ``mobilenet_v2().features`` (width 1.0): stem, 17 inverted residuals, 1x1 conv to 1280."""
    layers: list[nn.Module] = [conv_bn_relu6(3, STEM_CHANNELS, stride=2)]
    channels = STEM_CHANNELS
    for expansion, out_channels, repeats, stride in INVERTED_RESIDUAL_SETTINGS:
        for i in range(repeats):
            layers.append(InvertedResidual(channels, out_channels, stride if i == 0 else 1, expansion))
            channels = out_channels
    layers.append(conv_bn_relu6(channels, 1280, 1))
    return nn.Sequential(*layers)


def load_torchvision_weights(module: nn.Module, path: str | Path, key: str) -> str:
    """Copy a torchvision-keyed MobileNetV2 safetensors file into ``module`` (whose keys are a subset); returns its sha256.

    Raises :class:`RecipeError` naming ``key``, the file and what it lacks or holds in the wrong shape.
    """
    path = Path(path).expanduser()
    where = f"{key}: '{path}'"
    if not path.is_file():
        raise RecipeError(f"{where} does not exist; point it at MobileNetV2 ImageNet weights (torchvision key names)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise RecipeError(f"{where} is not a readable safetensors file ({exc})") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise RecipeError(
            f"{where} lacks {len(missing)} of the {len(expected)} MobileNetV2 tensors needed "
            f"(first: {missing[0]}); expected torchvision's mobilenet_v2 key names"
        )
    wrong = [k for k in expected if tensors[k].shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise RecipeError(
            f"{where}: {k} has shape {tuple(tensors[k].shape)}, expected {tuple(expected[k].shape)} (MobileNetV2 width 1.0)"
        )
    module.load_state_dict({k: tensors[k] for k in expected}, strict=True)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ImageNetInput(nn.Module):
    """Normalise sRGB in [0, 1] with ImageNet's mean and std, as the pretrained weights expect."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self.mean.to(rgb.dtype)) / self.std.to(rgb.dtype)


class MobileNetV2Encoder(nn.Module):
    """``features`` of torchvision's MobileNetV2; returns the feature maps at strides 2-32."""

    def __init__(self) -> None:
        super().__init__()
        self.normalise = ImageNetInput()
        self.features = mobilenet_v2_features()
        self.train()  # modules start in training mode without calling train(): freeze the statistics now

    def forward(
        self, gray: torch.Tensor, after_stem: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Gray input in [-1, 1] ``(B, 1, H, W)`` -> feature maps at strides 2, 4, 8, 16, 32.

        ``after_stem`` may change the stem's output (stride 2, 32 channels) before the rest sees it: user hints enter there.
        """
        x = self.normalise(((gray + 1.0) / 2.0).expand(-1, 3, -1, -1))  # a gray photo as RGB
        outputs = []
        stages = iter(index for index, _ in SKIP_STAGES)
        wanted = next(stages)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index == 0 and after_stem is not None:
                x = after_stem(x)
            if index == wanted:
                outputs.append(x)
                wanted = next(stages, -1)
        return outputs

    def train(self, mode: bool = True) -> MobileNetV2Encoder:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()  # keep pretrained statistics; see the module docstring
        return self


class MobileNetV2Classifier(nn.Module):
    """The whole ImageNet classifier (``features`` + ``classifier``): what the semantic metric asks."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.normalise = ImageNetInput()
        self.features = mobilenet_v2_features()
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def pooled_features(self, rgb: torch.Tensor) -> torch.Tensor:
        """sRGB ``(B, 3, H, W)`` in [0, 1] -> the globally pooled features ``(B, 1280)`` the last layer reads."""
        return self.features(self.normalise(rgb)).mean((2, 3))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """sRGB ``(B, 3, H, W)`` in [0, 1] -> class logits ``(B, classes)``."""
        return self.classifier(self.pooled_features(rgb))


def decoder_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class MobileNetUNet(nn.Module):
    """MobileNetV2 encoder, U-Net decoder with skips at strides 16, 8, 4 and 2, tanh output.

    - ``width``: decoder channels at stride 2 (doubling per level, capped at 8x).
    - ``encoder_weights``: a safetensors file of ImageNet MobileNetV2 weights
      (torchvision key names), read once by :meth:`init_pretrained` when training
      starts; checkpoints carry every weight, so loading a model never needs it.
    - ``output_stride``: the resolution of the output (1 = the input's, 2, 4).
      With ``resize_output`` the output is resized bilinearly to the input size;
      turn that off when a head works at the lower resolution itself (the
      ``zhang`` classifier does, and its decoding cost grows with the pixel count).
    - ``noise``: size of a noise vector broadcast over the stride-32 features.
    - ``hints``: channels of a hint input (the color space's target channels and a mask: 3 for lab),
      added to the encoder's stride-2 stem (see ``HintInput``); 0: none.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        encoder_weights: str | None = None,
        output_stride: int = 2,
        resize_output: bool = True,
        noise: int = 0,
        hints: int = 0,
    ) -> None:
        super().__init__()
        if in_channels != 1:
            raise ValueError(f"mobilenet_unet colorizes one gray channel, got in_channels={in_channels}")
        if output_stride not in (1, 2, 4):
            raise ValueError(f"output_stride must be 1, 2 or 4, got {output_stride}")
        if width < 1 or noise < 0:
            raise ValueError("width must be positive and noise non-negative")
        self.encoder_weights = encoder_weights
        self.output_stride = output_stride
        self.resize_output = resize_output
        self.noise_dim = noise
        self.encoder = MobileNetV2Encoder()
        widths = [width * min(2**level, 8) for level in range(5)]  # decoder channels at strides 2..32
        self.bottleneck = nn.Sequential(
            nn.Conv2d(SKIP_STAGES[-1][1] + noise, widths[-1], 1, bias=False),
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(inplace=True),
        )
        levels = {1: 4, 2: 4, 4: 3}[output_stride]  # up blocks to reach stride max(2, output_stride)
        self.up = nn.ModuleList(
            decoder_block(widths[4 - i] + SKIP_STAGES[3 - i][1], widths[3 - i]) for i in range(levels)
        )
        last = widths[4 - levels]
        self.full_resolution = decoder_block(last + 1, last) if output_stride == 1 else None
        self.head = nn.Conv2d(last, out_channels, 1)
        self.hint_channels = hints
        self.hint_input = HintInput(hints, STEM_CHANNELS, stride=2) if hints else None

    def init_pretrained(self) -> dict[str, str]:
        """Load the encoder's ImageNet weights (called by the trainer once, when a run starts)."""
        if self.encoder_weights is None:
            return {}
        return {
            "encoder_weights_sha256": load_torchvision_weights(
                self.encoder, self.encoder_weights, "recipe key 'encoder_weights'"
            )
        }

    def forward(
        self, gray: torch.Tensor, noise: torch.Tensor | None = None, hints: torch.Tensor | None = None
    ) -> torch.Tensor:
        height, width = gray.shape[-2:]
        padded = pad_to_multiple(gray, 32)
        if self.hint_input is None:
            skips = self.encoder(padded)
        else:
            hint_input, size = self.hint_input, padded.shape[-2:]
            skips = self.encoder(padded, after_stem=lambda stem: hint_input(stem, hints, size))
        x = self.bottleneck(with_noise(skips.pop(), noise, self.noise_dim))
        for up in self.up:
            skip = skips.pop()
            x = up(
                torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], dim=1)
            )
        if self.full_resolution is not None:
            up = F.interpolate(x, size=padded.shape[-2:], mode="bilinear", align_corners=False)
            x = self.full_resolution(torch.cat([up, padded], dim=1))
        out = torch.tanh(self.head(x))
        stride = self.output_stride
        out = out[..., : (height + stride - 1) // stride, : (width + stride - 1) // stride]  # ceil, in ONNX too
        if self.resize_output and out.shape[-2:] != (height, width):
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out


@hookimpl
def ganforge_register(registries: Registries) -> None:
    registries.generators.add("mobilenet_unet", MobileNetUNet)
