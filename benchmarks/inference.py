"""Inference speed and memory: the realtime U-Net against the eccv16 shape, video end to end, a 24 MP photo.

    python benchmarks/inference.py [--threads 2] [--seconds 3]

1. Frames per second at 256x256, batch 1 and 8, channels-last, inference mode:
   the generator of recipes/realtime.yaml (batch norms folded into the convolutions,
   as ``--realtime`` does) against the network of Zhang et al. 2016 (eccv16, width 64),
   the previous default model's network (recipes/bsds500_unet.yaml) and the shipped
   default model (MobileNetV2 encoder, recipes/default.yaml). Random weights for all
   but the shipped one: speed does not depend on them. Then the whole ``Colorizer``
   call on a 256x256 photo (color conversion and edge-aware upsampling included)
   for the previous and the shipped default; target for the shipped one >= 10 fps.
   Then the shipped default's call at its own working size (128) against several sizes
   averaged (``colorize --size 128,160`` and ``128,192``), side by side.
   ``--sizes-only`` runs just this comparison.
2. Video end to end (decode, colorize, encode) of a synthetic 854x480, 30 fps
   clip with the realtime path, as a multiple of real time.
   (Temporal stability of the colors: benchmarks/video_stability.py.)
3. Peak resident memory of a fresh process colorizing a 6000x4000 (24 MP) photo.
4. PyTorch against ONNX Runtime (``ganforge export --format onnx``) for the default and
   the realtime models: generator frames per second at 256x256 batch 1, the whole
   ``Colorizer`` call, and the largest difference between their outputs (target < 1e-3).
   ``--onnx-only`` runs just this part.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge.core.build import build_color_space, build_generator
from ganforge.core.components import Prediction
from ganforge.core.config import load_recipe
from ganforge.core.plugins import get_registries
from ganforge.inference.checkpoint import save_checkpoint
from ganforge.inference.colorizer import Colorizer

REPO = Path(__file__).resolve().parents[1]
MEMORY_PROBE = """
import resource, sys, numpy as np, ganforge
colorizer = ganforge.load(sys.argv[1])
photo = (np.random.default_rng(0).random((4000, 6000)) * 255).astype(np.uint8)
out = colorizer(photo)
assert out.shape == (4000, 6000, 3)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def fps(model: torch.nn.Module, batch: int, seconds: float) -> float:
    x = torch.rand(batch, 1, 256, 256).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            frames += batch
    return frames / (time.perf_counter() - start)


def calls_per_second(
    colorizer: Colorizer, photo: np.ndarray, seconds: float, size: int | tuple[int, ...] = 256
) -> float:
    colorizer(photo, size=size)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        colorizer(photo, size=size)
        calls += 1
    return calls / (time.perf_counter() - start)


def several_sizes(shipped: Colorizer, seconds: float) -> None:
    """The shipped default's whole call on a 256x256 photo at one working size and at several averaged."""
    photo = (np.random.default_rng(0).random((256, 256)) * 255).astype(np.uint8)
    rates = {size: calls_per_second(shipped, photo, seconds, size) for size in (128, (128, 160), (128, 192))}
    print("whole Colorizer call on a 256x256 photo, default model, by working size(s):")
    for size, rate in rates.items():
        label = ",".join(map(str, size)) if isinstance(size, tuple) else str(size)
        print(f"  --size {label:<8} {rate:6.1f} fps ({rate / rates[128]:.2f}x the single size)")


def gflops(model: torch.nn.Module) -> float:
    """Multiply-accumulates x 2 of the convolutions at 256x256, counted with forward hooks."""
    total = 0

    def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.weight[0].numel()  # in/groups x kh x kw
        total += 2 * kernel * output.numel()

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    with torch.inference_mode():
        model(torch.rand(1, 1, 256, 256))
    for hook in hooks:
        hook.remove()
    return total / 1e9


def synthetic_clip(path: Path, seconds: float) -> None:
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 854, 480, "yuv420p"
    stream.options = {"preset": "ultrafast"}
    x = np.linspace(0, 1, 854, dtype=np.float32)[None]
    y = np.linspace(0, 1, 480, dtype=np.float32)[:, None]
    rng = np.random.default_rng(0)
    scene = 128 + 90 * np.sin(6 * x + 4 * y) + rng.normal(0, 6, (480, 854))
    for i in range(int(30 * seconds)):
        gray = scene + rng.normal(0, 2, (480, 854))  # film grain: changes every frame
        left = (8 * i) % 700
        gray[300:420, left : left + 120] = 235  # a bright box crossing a still textured scene
        gray = gray.clip(0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.repeat(gray[:, :, None], 3, 2), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def onnx_comparison(realtime_checkpoint: Path, tmp: Path, seconds: float) -> None:
    """Section 4: the same models on both backends, side by side."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("PyTorch vs ONNX Runtime: skipped (pip install 'ganforge[onnx]')")
        return
    from ganforge.inference.export import export_onnx

    photo = (np.random.default_rng(0).random((256, 256)) * 255).astype(np.uint8)
    print(f"{'model, 256x256':<26} {'backend':<12} {'generator fps b1':>16} {'whole call fps':>15} {'max |diff|':>11}")
    for label, checkpoint in (("default", "default"), ("realtime (random weights)", str(realtime_checkpoint))):
        onnx_file = export_onnx(checkpoint, tmp / f"{Path(checkpoint).stem}.onnx")
        backends = {"torch": ganforge.load(checkpoint), "onnxruntime": ganforge.load(onnx_file)}
        gray = backends["torch"]._working(torch.from_numpy(photo / 255.0).float()[None, None], 256)
        with torch.inference_mode():
            outputs = {name: colorizer.generator(gray) for name, colorizer in backends.items()}
        difference = float((Prediction.wrap(outputs["torch"]).target - outputs["onnxruntime"].target).abs().max())
        for name, colorizer in backends.items():
            generator_fps = fps(lambda x, c=colorizer: c.generator(x.contiguous()), 1, seconds)
            print(f"{label:<26} {name:<12} {generator_fps:16.1f} {calls_per_second(colorizer, photo, seconds):15.1f} "
                  f"{difference if name == 'onnxruntime' else 0:11.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement")
    parser.add_argument("--onnx-only", action="store_true", help="only section 4: PyTorch against ONNX Runtime")
    parser.add_argument(
        "--sizes-only", action="store_true", help="only the default model at one working size against several"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.sizes_only:
        several_sizes(ganforge.load("default").fuse(), args.seconds)
        return
    if args.onnx_only:
        recipe = load_recipe(REPO / "recipes" / "realtime.yaml")
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = save_checkpoint(
                Path(tmp) / "realtime.safetensors",
                recipe,
                build_generator(recipe, build_color_space(recipe)).state_dict(),
            )
            onnx_comparison(checkpoint, Path(tmp), args.seconds)
        return

    recipe = load_recipe(REPO / "recipes" / "realtime.yaml")
    color_space = build_color_space(recipe)
    realtime = Colorizer(build_generator(recipe, color_space), color_space, recipe).fuse().generator
    realtime = realtime.to(memory_format=torch.channels_last)
    eccv16 = get_registries().generators.create("eccv16", in_channels=1, out_channels=2, width=64).eval()
    eccv16 = eccv16.to(memory_format=torch.channels_last)
    previous_recipe = load_recipe(REPO / "recipes" / "bsds500_unet.yaml")
    previous = Colorizer(build_generator(previous_recipe, color_space), color_space, previous_recipe).fuse()
    shipped = ganforge.load("default").fuse()
    rows = []
    models = (
        ("realtime U-Net (width 16)", realtime),
        ("eccv16 (Zhang et al. 2016)", eccv16),
        ("previous default (U-Net 32)", previous.generator.to(memory_format=torch.channels_last)),
        ("default (MobileNetV2-UNet)", shipped.generator.to(memory_format=torch.channels_last)),
    )
    for name, model in models:
        rows.append((name, gflops(model), fps(model, 1, args.seconds), fps(model, 8, args.seconds)))

    print(f"torch threads {args.threads}; 256x256 frames, channels-last, inference mode")
    print(f"{'model':<28} {'GFLOPs/frame':>12} {'fps batch 1':>12} {'fps batch 8':>12} {'ratio (b1)':>11}")
    for name, flops, one, eight in rows:
        print(f"{name:<28} {flops:12.2f} {one:12.1f} {eight:12.1f} {one / rows[1][2]:11.2f}x")
    print(
        f"realtime target: >= 30 fps at batch 1 and >= 10x eccv16; eccv16 at {rows[1][1] * rows[1][2]:.0f} GFLOP/s achieved"
    )
    photo = (np.random.default_rng(0).random((256, 256)) * 255).astype(np.uint8)
    whole = {name: calls_per_second(colorizer, photo, args.seconds) for name, colorizer in
             (("previous default", previous), ("default", shipped))}  # fmt: skip
    print(
        f"whole Colorizer call on a 256x256 photo, working size 256: previous default {whole['previous default']:.1f} fps, "
        f"default {whole['default']:.1f} fps ({whole['default'] / whole['previous default']:.2f}x; target >= 10 fps)"
    )
    several_sizes(shipped, args.seconds)

    with tempfile.TemporaryDirectory() as tmp:
        unfused = build_generator(recipe, color_space)  # checkpoints hold the trained layout; --realtime fuses on load
        checkpoint = save_checkpoint(Path(tmp) / "realtime.safetensors", recipe, unfused.state_dict())
        clip = Path(tmp) / "clip.mp4"
        synthetic_clip(clip, args.seconds * 2)
        out = Path(tmp) / "out.mp4"
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "ganforge", "colorize", str(checkpoint), str(clip), "-o", str(out), "--realtime"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
        frames = int(30 * args.seconds * 2)
        note = next(line for line in result.stdout.splitlines() if "frames at" in line)
        print(f"video 854x480 @ 30 fps, {frames} frames, --realtime: {frames / wall / 30:.2f}x real time end to end "
              f"including process start ({note.split(': ', 1)[1]}; target >= 1.0x)")  # fmt: skip
        peak = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(checkpoint)], capture_output=True, text=True, check=True
        )
        print(f"24 MP photo (6000x4000): peak RSS {float(peak.stdout.strip()):.2f} GiB (target < 2 GiB)")
        onnx_comparison(checkpoint, Path(tmp), args.seconds)


if __name__ == "__main__":
    main()
