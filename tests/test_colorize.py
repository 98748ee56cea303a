from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main as main_cli
from ganforge.core.colormath import rgb_to_lab
from ganforge.core.errors import UsageError
from ganforge.core.images import to_tensor

from .helpers import checkpoint


@pytest.fixture
def unet_checkpoint(tmp_path) -> Path:
    return checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3})


def photo(width=48, height=40) -> Image.Image:
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, width)[None, :].repeat(height, 0) * 0.5 + rng.integers(0, 100, (height, width))
    return Image.fromarray(gradient.clip(0, 255).astype(np.uint8), "L")


def test_pil_in_pil_out_at_full_resolution_keeping_the_lightness(unet_checkpoint):
    colorizer = ganforge.load(unet_checkpoint)
    image = photo(61, 33)
    out = colorizer(image, size=16)  # the model works at 16 px; the output keeps all 61 x 33 pixels
    assert isinstance(out, Image.Image) and out.size == (61, 33) and out.mode == "RGB"
    lab_out = rgb_to_lab(to_tensor(out)[None])
    lab_in = rgb_to_lab(to_tensor(image.convert("RGB"))[None])
    assert (lab_out[:, 0] - lab_in[:, 0]).abs().median() < 0.5  # lightness kept (except out-of-gamut clipping)
    assert lab_out[:, 1:].abs().mean() > 0.5  # and colored


def test_tensor_batches_and_color_inputs(unet_checkpoint):
    colorizer = ganforge.load(unet_checkpoint)
    batch = torch.rand(2, 3, 20, 24)
    out = colorizer(batch)
    assert out.shape == (2, 3, 20, 24)
    with pytest.raises(ValueError, match=r"expected a PIL image or a \(B, 1 or 3, H, W\) tensor"):
        colorizer(torch.rand(3, 20, 24))
    for empty in (np.zeros((0, 0), np.uint8), np.zeros((5, 0, 3), np.uint8), torch.rand(0, 1, 8, 8)):
        with pytest.raises(
            ValueError, match=r"the picture is empty: \(.*\); colorize pictures of at least 1 x 1 pixel"
        ):
            colorizer(empty)
    with pytest.raises(ValueError, match="size .* must be at least 1, got -5"):
        colorizer(batch, size=-5)
    with pytest.raises(UsageError, match="temperature applies to classification models"):
        colorizer(batch, temperature=0.5)
    with pytest.raises(UsageError, match="vividness applies to classification models"):
        colorizer(batch, vividness=0.5)
    with pytest.raises(UsageError, match="takes no noise"):
        colorizer.sample(batch, 3)
    with pytest.raises(UsageError, match="gives no confidence"):
        colorizer.confidence(batch)


def test_classification_confidence_is_the_probability_of_a_color_near_the_one_shown(tmp_path):
    colorizer = ganforge.load(
        checkpoint(tmp_path, {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 3}, "features": 8})
    )
    head = colorizer.generator
    centers = head.bins.centers
    gray = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        head.classify.weight.zero_()
        head.classify.bias.zero_()  # uniform over bins: the share of bins near the mean color
    near_mean = (centers - centers.mean(0)).norm(dim=1).le(15).float().mean()
    torch.testing.assert_close(colorizer.confidence(gray), near_mean.expand(1, 1, 16, 16), atol=1e-4, rtol=0)
    red, green = [int((centers - torch.tensor(ab)).norm(dim=1).argmin()) for ab in ([60.0, 0.0], [-60.0, 0.0])]
    with torch.no_grad():
        head.classify.bias.fill_(-50.0)
        head.classify.bias[[red, green]] = 50.0  # red or green, equally: the gray shown between them is never right
    assert colorizer.confidence(gray).max() < 1e-4
    with torch.no_grad():
        head.classify.bias[green] = -50.0  # certainly red
    torch.testing.assert_close(colorizer.confidence(gray), torch.ones(1, 1, 16, 16), atol=1e-4, rtol=0)
    with torch.no_grad():
        head.classify.bias.copy_(torch.randn(len(centers)))
        head.classify.bias[red] = 4.0
    unsure = colorizer.confidence(gray)
    head.confidence_temperature = 0.5  # a sharper reading of the same distribution
    assert (colorizer.confidence(gray) > unsure + 0.05).all()
    # temperature changes the decoded colors of the same distribution
    with torch.no_grad():
        head.classify.bias.copy_(torch.linspace(0, 3, 261))
    assert not torch.allclose(colorizer(gray, temperature=1.0), colorizer(gray, temperature=0.1))
    # and so does vividness, for that call only; out of range is a usage error that changes nothing
    assert not torch.allclose(colorizer(gray, vividness=1.0), colorizer(gray))
    with pytest.raises(UsageError, match=r"vividness must be in \[-1, 2\], got 2.5"):
        colorizer(gray, temperature=0.2, vividness=2.5)
    with pytest.raises(UsageError, match="^temperature must be positive, got 0$"):
        colorizer(gray, temperature=0, vividness=0.5)
    assert (head.vividness, head.temperature) == (0.0, 0.38)


def test_noise_models_sample_and_low_confidence_can_be_desaturated(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "ganforge.inference.colorizer.CONFIDENCE_RADIUS", 0.01
    )  # this small model's samples differ by hundredths
    colorizer = ganforge.load(checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3, "noise": 4}))
    gray = torch.rand(1, 1, 16, 16)
    samples = colorizer.sample(gray, 3)
    assert len(samples) == 3 and not torch.allclose(samples[0], samples[1])
    assert all(torch.equal(a, b) for a, b in zip(samples, colorizer.sample(gray, 3)))  # seeded
    confidence = colorizer.confidence(gray)
    assert confidence.shape == (1, 1, 16, 16) and 0 <= confidence.min() and confidence.max() <= 1
    assert confidence.min() < 0.9  # some samples fall farther than the radius from their mean
    chroma = lambda rgb: rgb_to_lab(rgb)[:, 1:].norm(dim=1)  # noqa: E731
    plain, faded = colorizer(gray), colorizer(gray, desaturate_below=1.0)
    assert chroma(faded).mean() < chroma(plain).mean()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ganforge", "colorize", *args], capture_output=True, text=True, check=False
    )


def test_cli_colorizes_folders_recursively_and_resumes(unet_checkpoint, tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    photo().save(source / "a.png")
    gray = photo()
    Image.merge("RGB", (gray, gray.point(lambda v: v // 2), gray)).save(source / "sub" / "b.jpg")  # a color photo
    photo().save(source / "sub" / "c.pgm")
    (source / "notes.txt").write_text("not an image")
    (source / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    result = run(str(unet_checkpoint), str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["a.png", "sub/b.jpg", "sub/c.png"]
    assert "notes.txt: not an image or video file" in result.stderr and "broken.png" in result.stderr
    assert "wrote 3 file(s); 1 unreadable; 1 color input(s) were made gray first" in result.stdout
    assert Image.open(out / "sub" / "b.jpg").size == (48, 40)
    again = run(str(unet_checkpoint), str(source), "-o", str(out))
    assert "wrote 0 file(s); skipped 3 existing (use --overwrite)" in again.stdout
    forced = run(str(unet_checkpoint), str(source / "a.png"), "-o", str(out / "single.png"), "--overwrite")
    assert forced.returncode == 0 and (out / "single.png").is_file()
    assert not list(out.rglob(".*tmp*"))  # no temporaries left behind


def test_cli_writes_confidence_maps_and_samples(tmp_path):
    noisy = checkpoint(tmp_path, {"name": "unet", "width": 8, "depth": 3, "noise": 4}, name="noisy")
    photo().save(tmp_path / "p.png")
    result = run(str(noisy), str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--samples", "2", "--confidence")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p_confidence.png", "p_sample1.png", "p_sample2.png"]
    assert Image.open(tmp_path / "o" / "p_confidence.png").mode == "L"


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (
            lambda ck, tmp: [str(ck), str(tmp / "nothing.png"), "-o", str(tmp / "o")],
            "input '.*nothing.png' does not exist",
        ),
        (
            lambda ck, tmp: [
                (tmp / "fake.safetensors").write_bytes(b"junk") and str(tmp / "fake.safetensors"),
                str(tmp / "p.png"),
                "-o",
                str(tmp / "o"),
            ],
            "is not a safetensors file",
        ),
        (lambda ck, tmp: [str(ck), "-o", str(tmp / "o")], "names a checkpoint but no INPUT"),
        (
            lambda ck, tmp: [str(ck), str(tmp / "p.png"), "-o", str(tmp / "o"), "--samples", "2"],
            "--samples needs a model with a noise input",
        ),
        (
            lambda ck, tmp: [str(ck), str(tmp / "p.png"), "-o", str(tmp / "o"), "--confidence"],
            "--confidence and --desaturate-below need",
        ),
        (
            lambda ck, tmp: [str(ck), str(tmp / "p.png"), str(tmp / "p.png"), "-o", str(tmp / "two.png")],
            r"-o '.*two.png' names a file, but 2 inputs need an output folder; pass -o .*two \(a folder\)",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(unet_checkpoint, tmp_path, make_args, message):
    photo().save(tmp_path / "p.png")
    result = run(*make_args(unet_checkpoint, tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("ganforge: error:")
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "two.png").exists()


def test_numpy_arrays_in_numpy_arrays_out(unet_checkpoint):
    colorizer = ganforge.load(unet_checkpoint)
    gray = np.asarray(photo(30, 20))
    out = colorizer(gray)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    floats = colorizer(np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32) / 255)
    assert floats.dtype == np.float32 and floats.shape == (20, 30, 3)
    np.testing.assert_allclose(floats * 255, out, atol=1.01)


def test_bfloat16_inference_matches_float32_closely(unet_checkpoint):
    gray = torch.rand(1, 1, 24, 24)
    exact = ganforge.load(unet_checkpoint)(gray)
    low = ganforge.load(unet_checkpoint).to(dtype=torch.bfloat16)(gray)
    assert low.dtype == torch.float32 and (low - exact).abs().mean() < 0.02


def test_the_load_docstring_example_runs(unet_checkpoint):
    import doctest

    import ganforge.inference.colorizer

    finder = doctest.DocTestFinder()
    (test,) = [
        t
        for t in finder.find(ganforge.inference.colorizer, globs={"ganforge_checkpoint": str(unet_checkpoint)})
        if t.name.endswith(".load")
    ]
    result = doctest.DocTestRunner().run(test)
    assert result.attempted == 4 and result.failed == 0


def test_a_hub_repo_id_is_fetched_through_the_hub_cache(unet_checkpoint, monkeypatch):
    import huggingface_hub

    asked = {}

    def fake_download(repo_id, filename):
        asked.update(repo_id=repo_id, filename=filename)
        return str(unet_checkpoint)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    colorizer = ganforge.load("someone/colorizer")
    assert asked == {"repo_id": "someone/colorizer", "filename": "model.safetensors"}
    assert colorizer.recipe.name == "model"


def test_a_hub_repo_id_offline_and_uncached_says_so(tmp_path):
    code = "import ganforge; ganforge.load('someone/not-cached-anywhere')"
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert "'someone/not-cached-anywhere' is neither a local file nor a Hub model" in result.stderr


@pytest.mark.slow
def test_torch_compile_gives_the_same_colors(unet_checkpoint):
    gray = torch.rand(1, 1, 32, 32)
    eager = ganforge.load(unet_checkpoint)(gray)
    compiled = ganforge.load(unet_checkpoint).compile()(gray)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=0)


def test_fusing_batch_norms_keeps_the_colors(unet_checkpoint):
    gray = torch.rand(1, 1, 24, 24)
    plain = ganforge.load(unet_checkpoint)
    with torch.no_grad():  # non-trivial running statistics
        for module in plain.generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    expected = plain(gray)
    fused = plain.fuse()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.generator.modules())
    torch.testing.assert_close(fused(gray), expected, atol=1e-4, rtol=0)


def test_outputs_never_overwrite_inputs_collide_or_feed_back(tmp_path):
    from ganforge.colorize_files import plan_jobs

    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    (photos / "b").mkdir()
    photo().save(photos / "a" / "x.png")
    photo().save(photos / "b" / "x.png")
    photo().save(photos / "b" / "y.png")
    with pytest.raises(UsageError, match=r"would be '.*x.png', which is an input: ganforge never writes over"):
        plan_jobs([photos / "a" / "x.png"], photos / "a" / "x.png")
    with pytest.raises(UsageError, match=r"which is an input"):
        plan_jobs([photos], photos)  # a folder colorized onto itself
    with pytest.raises(UsageError, match=r"'.*a/x.png' and '.*b/x.png' would both be written to '.*out/x.png'"):
        plan_jobs([photos / "a" / "x.png", photos / "b" / "x.png"], tmp_path / "out")
    (photos / "colorized").mkdir()
    photo().save(photos / "colorized" / "old_result.png")  # an earlier run's output inside the input folder
    jobs = plan_jobs([photos / "b"], photos / "colorized")
    assert [source.name for source, _ in jobs] == ["x.png", "y.png"]
    assert [target.name for _, target in plan_jobs([photos], photos / "colorized")] == ["x.png", "x.png", "y.png"]


def test_several_working_sizes_average_their_colors_for_pictures_only(tmp_path, capsys):
    colorizer = ganforge.load(
        checkpoint(tmp_path, {"name": "zhang", "backbone": {"name": "unet", "width": 8, "depth": 3}, "features": 8})
    )
    with torch.no_grad():
        colorizer.generator.classify.bias.copy_(torch.linspace(0, 3, 261))
    gray = torch.rand(1, 1, 40, 60, generator=torch.Generator().manual_seed(0))
    small, large = colorizer.working_chroma(gray, size=16), colorizer.working_chroma(gray, size=24)
    ab, gray_small = colorizer.working_chroma(gray, size=(16, 24))
    torch.testing.assert_close(gray_small, large[1])  # the finer grid is kept
    resized = torch.nn.functional.interpolate(small[0], size=large[0].shape[-2:], mode="bilinear", align_corners=False)
    torch.testing.assert_close(ab, (resized + large[0]) / 2)
    assert colorizer(gray, size=(16, 24)).shape == (1, 3, 40, 60)
    assert not torch.allclose(colorizer(gray, size=(16, 24)), colorizer(gray, size=24))
    single = [colorizer.confidence(gray, size=s) for s in (16, 24)]
    torch.testing.assert_close(colorizer.confidence(gray, size=(16, 24)), (single[0] + single[1]) / 2)
    with pytest.raises(ValueError, match="give at least one working size"):
        colorizer(gray, size=())
    for bad in ("16", (16, 1.5), 1.5):
        with pytest.raises(TypeError, match="size must be an integer or a sequence of integers"):
            colorizer(gray, size=bad)
    # on the command line: pictures take several sizes, a video is refused before anything is written
    Image.fromarray(np.full((40, 60), 120, np.uint8), "L").save(tmp_path / "photo.png")
    assert main_cli(["colorize", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out.png"), "--size", "16,24"]) == 0
    assert Image.open(tmp_path / "out.png").size == (60, 40)
    (tmp_path / "clip.mp4").write_bytes(b"")
    capsys.readouterr()
    assert main_cli(["colorize", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "clips"), "--size", "16,24"]) == 2
    assert "a video is colorized at one working size: pass one --size" in capsys.readouterr().err
    assert not (tmp_path / "clips").exists() or not any((tmp_path / "clips").iterdir())
