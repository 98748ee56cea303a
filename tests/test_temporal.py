"""Optical flow, clips with known motion, the warp error, and the chroma smoothers that use them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.core.errors import UsageError
from ganforge.evaluation import metrics
from ganforge.video.clips import SAMPLES, Clip, load_photo, moving_object, pan, sample_clip, zoom
from ganforge.video.temporal import ChromaSmoother, MotionCompensatedSmoother, make_smoother

cv2 = pytest.importorskip("cv2", reason="motion compensation needs the 'video' extra (OpenCV)")

from ganforge.video.flow import FlowEstimator, Warp, reliable  # noqa: E402


def texture(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth random texture, 8-bit: something optical flow can lock on to."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.5)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by (dx, dy): the result at ``p`` is ``image`` at ``p - (dx, dy)``."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("max_side", [512, 64])  # 64: computed on a smaller copy and scaled back
def test_flow_finds_a_known_shift(max_side):
    image = texture()
    moved = shifted(image, 3, -2)
    flow = FlowEstimator(max_side=max_side)(moved, image)  # moved(p) ~ image(p + flow): flow = (-3, 2)
    middle = flow[20:-20, 20:-20]
    assert np.median(middle[..., 0]) == pytest.approx(-3, abs=0.3)
    assert np.median(middle[..., 1]) == pytest.approx(2, abs=0.3)


def test_warp_samples_along_the_flow():
    image = np.arange(12 * 16, dtype=np.float32).reshape(12, 16)
    flow = np.zeros((12, 16, 2), np.float32)
    flow[..., 0] = 2  # take the value two pixels to the right
    assert np.array_equal(Warp(flow)(image)[:, :-2], image[:, 2:])
    assert np.array_equal(Warp(flow)(image)[:, -2:], image[:, -1:].repeat(2, 1))  # beyond the edge: the edge


def test_reliable_rejects_pixels_that_leave_the_frame_or_do_not_come_back():
    height, width = 20, 30
    backward = np.zeros((height, width, 2), np.float32)
    backward[..., 0] = 4
    forward = -backward.copy()
    ok = reliable(backward, forward)
    assert ok[:, : width - 5].all() and not ok[:, width - 4 :].any()  # x + 4 beyond the last column
    forward[5:10, 10:20] = 0  # the previous frame's pixels there went nowhere: an occlusion
    broken = reliable(backward, forward)
    assert not broken[5:10, 6:16].any() and broken[12:, :20].all()


def test_flow_preset_and_missing_opencv_are_clear_errors(monkeypatch):
    with pytest.raises(UsageError, match="flow preset must be one of ultrafast, fast, medium"):
        FlowEstimator("slowest")
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (_ for _ in ()).throw(ImportError()) if name == "cv2" else real_import(name, *a, **k),
    )
    with pytest.raises(UsageError, match=r"pip install 'ganforge\[video\]'"):
        FlowEstimator()


def true_warp_error(clip: Clip, where: torch.Tensor) -> float:
    return float(metrics.warp_error(clip.frames, clip.flow)[where].mean())


def test_clip_flows_say_where_each_pixel_was():
    """Warping each frame's predecessor along the true flow gives the frame back where the flow holds."""
    photo = load_photo(SAMPLES / "astronaut.jpg")
    for clip in (pan(photo, (96, 64), 5, (3.0, 1.0)), zoom(photo, (96, 64), 5, 0.95),
                 moving_object(photo, load_photo(SAMPLES / "coffee.jpg"), (96, 64), 5, (4.0, 0.0), radius=14)):  # fmt: skip
        assert clip.frames.shape == (5, 3, 64, 96) and not clip.valid[0].any()
        assert clip.moving.any()
        assert true_warp_error(clip, clip.valid) < 0.02, clip.name  # bilinear resampling only


def test_a_zoom_starts_from_the_largest_view_even_when_it_fills_the_photo_exactly():
    """399x266 for 320x192 frames: the first view touches the photo's edges, where float rounding once fell outside."""
    clip = zoom(torch.rand(3, 266, 399), (320, 192), 3, 0.97)
    assert clip.frames.shape == (3, 3, 192, 320)
    with pytest.raises(ValueError, match=r"zoom: the photo \(100x60\) is too small"):
        zoom(torch.rand(3, 60, 100), (320, 192), 3, 1.05)  # zooming out of the largest view leaves the photo


def test_a_moving_object_disoccludes_the_background_behind_it():
    photo = load_photo(SAMPLES / "astronaut.jpg")
    clip = moving_object(photo, load_photo(SAMPLES / "coffee.jpg"), (96, 64), 4, (6.0, 0.0), radius=12)
    center = 47.5 - 6 * 1.5  # the disc's center x in frame 0
    uncovered = clip.valid[1, 32, int(center - 11) : int(center - 6)]  # left edge of the old disc: background now
    assert not uncovered.any()
    assert clip.valid[1, 32, 5:20].all()  # background far from the disc
    assert (clip.flow[1, 0, 32, 45:50] == -6).all()  # on the disc: it came from 6 px to the left


def test_joined_clips_cut_between_shots():
    clip = sample_clip((96, 64), frames_per_shot=4)
    assert len(clip) == 12 and clip.name == "samples"
    assert [bool(clip.valid[t].any()) for t in range(12)] == [False, True, True, True] * 3
    with pytest.raises(ValueError, match="different sizes"):
        _ = clip + pan(load_photo(SAMPLES / "astronaut.jpg"), (32, 32), 2, (1.0, 0.0))
    with pytest.raises(ValueError, match="too small"):
        pan(load_photo(SAMPLES / "chelsea.jpg"), (400, 290), 10, (20.0, 0.0))


def test_warp_error_is_zero_for_colors_that_move_with_the_picture_and_grows_with_flicker():
    clip = pan(load_photo(SAMPLES / "astronaut.jpg"), (64, 48), 6, (2.0, 0.0))
    steady = metrics.warp_error(clip.frames, clip.flow)
    assert float(steady[clip.valid].max()) < 1e-5 and float(steady[0].abs().max()) == 0
    flicker = clip.frames + 0.05 * torch.randn(6, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    assert float(metrics.warp_error(flicker, clip.flow)[clip.valid].mean()) > 0.02


def noisy_chroma(clip: Clip, size: float, seed: int = 0) -> torch.Tensor:
    """The clip's Cb/Cr with a random per-frame hue turn and per-pixel noise: a per-frame colorizer's flicker."""
    from ganforge.video.pipeline import rgb_to_cbcr

    generator = torch.Generator().manual_seed(seed)
    vector = rgb_to_cbcr(clip.frames) - 128
    angle = (torch.rand(len(clip), generator=generator) - 0.5) * math.radians(2 * size)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    turned = torch.stack([cos * vector[:, 0] - sin * vector[:, 1], sin * vector[:, 0] + cos * vector[:, 1]], 1)
    return 128 + turned + 2 * torch.randn(turned.shape, generator=generator)


def smooth(smoother, clip: Clip, chroma: torch.Tensor) -> torch.Tensor:
    luma = (0.299 * clip.frames[:, 0] + 0.587 * clip.frames[:, 1] + 0.114 * clip.frames[:, 2])[:, None]
    return torch.stack([smoother(y, c) for y, c in zip(luma, chroma)])


def test_motion_compensation_steadies_moving_colors_where_still_smoothing_cannot():
    clip = pan(load_photo(SAMPLES / "astronaut.jpg"), (128, 96), 10, (3.0, 1.0))
    chroma = noisy_chroma(clip, size=25)
    error = {name: float(metrics.warp_error(out, clip.flow)[clip.moving].mean()) for name, out in (
        ("raw", chroma),
        ("still", smooth(ChromaSmoother(0.9), clip, chroma)),
        ("motion", smooth(MotionCompensatedSmoother(0.9), clip, chroma)),
    )}  # fmt: skip
    assert error["motion"] < error["raw"] / 2.5
    assert error["motion"] < error["still"] / 2  # the whole picture moves: still smoothing helps only on flat parts


def test_motion_compensation_keeps_saturation_while_hue_steadies():
    """Averaging chroma vectors of wavering hue shortens them; the saturation is kept instead."""
    clip = pan(load_photo(SAMPLES / "astronaut.jpg"), (96, 64), 10, (2.0, 0.0))
    chroma = noisy_chroma(clip, size=40)
    length = (chroma - 128).norm(dim=1)[-1].mean()
    motion = (smooth(MotionCompensatedSmoother(0.9), clip, chroma) - 128).norm(dim=1)[-1].mean()
    still = (smooth(ChromaSmoother(0.9, motion=10.0), clip, chroma) - 128).norm(dim=1)[-1].mean()  # blends everywhere
    assert float(motion / length) > 0.95
    assert float(still / length) < float(motion / length) - 0.03


def test_a_cut_restarts_the_average_and_disoccluded_pixels_take_their_new_color():
    photo = load_photo(SAMPLES / "astronaut.jpg")
    clip = pan(photo, (96, 64), 4, (2.0, 0.0)) + pan(load_photo(SAMPLES / "coffee.jpg"), (96, 64), 4, (-2.0, 0.0))
    chroma = noisy_chroma(clip, size=30)
    smoother = MotionCompensatedSmoother(0.9)
    out = smooth(smoother, clip, chroma)
    assert smoother.cuts == 1
    assert torch.allclose(out[4], chroma[4], atol=1e-3)  # the first frame of the new shot is its own
    assert not torch.allclose(out[5], chroma[5], atol=1e-3)
    assert torch.allclose(
        out[2][:, :, -1], chroma[2][:, :, -1], atol=1e-3
    )  # came in from outside the frame: nothing to blend


def test_make_smoother_names_and_weights():
    assert isinstance(make_smoother("motion", 0.9), MotionCompensatedSmoother)
    assert isinstance(make_smoother("still", 0.7), ChromaSmoother)
    identity = make_smoother("motion", 0.0)  # no flow needed when nothing is blended
    frame = torch.rand(2, 8, 8) * 100 + 78
    assert torch.equal(identity(torch.rand(1, 8, 8), frame), frame) and torch.equal(
        identity(torch.rand(1, 8, 8), frame), frame
    )
    with pytest.raises(UsageError, match="stabilize must be one of motion, still"):
        make_smoother("optical", 0.5)
    with pytest.raises(UsageError, match=r"smoothing must be in \[0, 1\)"):
        make_smoother("motion", 1.0)
