"""The names and ranges users choose among, importable without torch.

The command line offers and checks them before anything heavy is imported, so
``ganforge --help`` and usage errors answer at once; the modules that act on a
choice import it from here.
"""

from __future__ import annotations

# The weights file a model folder holds (as ganforge export and the Hugging Face Hub lay it out).
HUB_FILENAME = "model.safetensors"

# The decoding options of classification models: ``temperature`` (> 0, the annealed mean's) and
# ``vividness``, in VIVIDNESS_RANGE (0: as trained).
DECODING = ("temperature", "vividness")
VIVIDNESS_RANGE = (-1.0, 2.0)

# How a color photograph is made gray (ganforge.core.colormath.to_gray).
GRAY_CONVERSIONS = ("lstar", "rec601", "rec709", "orthochromatic", "panchromatic")

# How predicted colors reach full resolution (ganforge.inference.upsample).
UPSAMPLING = ("guided", "bilinear")

# Where a video's previous chroma is looked up (ganforge.video.temporal), and its default weight.
STABILIZERS = ("motion", "still")
SMOOTHING = 0.82
