"""Temporal stabilisation of a video's chroma: frame-by-frame colors flicker, these make them steady.

Both smoothers keep an exponential moving average of the chroma, restarted at
scene cuts, and see one frame at a time (bounded memory on a feature-length
file). They differ in where a pixel's previous color is looked up:

- ``still``: at the same place, and only where the luma did not change, so
  still regions stop flickering and moving ones get no help;
- ``motion``: where the pixel was in the previous frame, found by optical flow
  on the luma (:mod:`ganforge.video.flow`), so a pan, a zoom or a walking person is
  steadied too; where the flow cannot be trusted (occlusions, disocclusions,
  a mismatch between the forward and the backward flow, a luma that does not
  match after warping) the new color is taken as it is.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.core.choices import STABILIZERS
from ganforge.core.errors import UsageError
from ganforge.video.flow import FlowEstimator, Warp, reliable


class _Smoother:
    """The moving average, its cut counting and the previous frame it needs."""

    def __init__(self, weight: float, scene_cut: float, motion: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise UsageError(f"smoothing must be in [0, 1), got {weight}")
        self.weight, self.scene_cut, self.motion = weight, scene_cut, motion
        self._previous: tuple | None = None  # the previous frame's luma and state
        self.cuts = 0

    def __call__(self, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
        """``luma`` ``(1, h, w)`` in [0, 1] and ``chroma`` ``(2, h, w)`` (code values, neutral at 128) of
        one frame -> smoothed chroma."""
        luma, state = self._luma(luma), self._state(chroma)
        if self._previous is not None and self.weight > 0:
            blended = self._blend(*self._previous, luma, state)
            if blended is None:
                self.cuts += 1
            else:
                state = blended
        self._previous = (luma, state)
        return self._chroma(state)

    def _luma(self, luma: torch.Tensor):
        """The luma as ``_blend`` compares it, made once per frame and kept for the next one."""
        return luma

    def _state(self, chroma: torch.Tensor) -> torch.Tensor | np.ndarray:
        """What is averaged over frames (by default the chroma itself)."""
        return chroma

    def _chroma(self, state) -> torch.Tensor:
        """The chroma a state stands for."""
        return state

    def _blend(self, previous_luma, previous, luma, current):
        """The new state from the previous frame's luma and state and this frame's; None at a scene cut."""
        raise NotImplementedError


class ChromaSmoother(_Smoother):
    """Still-pixel smoothing: a pixel keeps ``weight`` of its previous chroma where its luma is
    still, and less as its luma changes, so moving objects do not drag color trails."""

    def __init__(self, weight: float, scene_cut: float = 0.12, motion: float = 0.05) -> None:
        super().__init__(weight, scene_cut, motion)

    def _blend(self, previous_luma, previous, luma, current):
        change = (luma - previous_luma).abs()
        if change.mean() > self.scene_cut:
            return None
        keep = self.weight * (1 - change / self.motion).clamp(0, 1)  # none beyond a change of ``motion``
        return keep * previous + (1 - keep) * current


class MotionCompensatedSmoother(_Smoother):
    """Smoothing along the motion: the previous frame's smoothed chroma is warped to the current
    frame by the optical flow of the luma, then blended in where the warp is reliable.

    A scene cut is a frame whose luma, even after warping, differs from the previous
    one by more than ``scene_cut`` on average (a fast pan is not a cut). ``motion`` is
    the luma mismatch after warping beyond which the previous chroma is not used; it is
    looser than the still smoother's, since warping by a sub-pixel flow leaves a residual
    on sharp texture that is no sign of a wrong match.

    Averaging chroma vectors whose hue wavers shortens them (colors fade), so the
    saturation is averaged on its own and the averaged vector is given that length:
    hue steadies, saturation stays.
    """

    def __init__(
        self, weight: float, scene_cut: float = 0.12, motion: float = 0.15, flow: FlowEstimator | None = None
    ) -> None:
        super().__init__(weight, scene_cut, motion)
        self.flow = flow or FlowEstimator()

    def _luma(self, luma):
        """Float and 8-bit ``(h, w)`` arrays: the warp residual needs the one, DIS the other."""
        now = _as_numpy(luma)[0]
        return now, _to_uint8(now)

    def _state(self, chroma):
        """``(h, w, 3)``: the chroma vector (centered on neutral) and its length, as OpenCV warps it."""
        cb, cr = _as_numpy(chroma) - 128
        return np.dstack([cb, cr, np.hypot(cb, cr)])

    def _chroma(self, state):
        length = np.maximum(np.hypot(state[..., 0], state[..., 1]), 1e-3)
        scale = np.minimum(state[..., 2] / length, 3)
        return torch.from_numpy(np.stack([state[..., 0] * scale, state[..., 1] * scale])) + 128

    def _blend(self, previous_luma, previous, luma, current):
        (now, now8), (before, before8) = luma, previous_luma
        backward, forward = self.flow(now8, before8), self.flow(before8, now8)
        along = Warp(backward)
        change = np.abs(now - along(before))
        if change.mean() > self.scene_cut:
            return None
        keep = self.weight * np.clip(1 - change / self.motion, 0, 1) * reliable(backward, forward, along)
        return current + keep[..., None] * (along(previous) - current)


def make_smoother(stabilize: str, weight: float, scene_cut: float = 0.12, flow_preset: str = "medium") -> _Smoother:
    """The smoother named ``stabilize`` ('motion' or 'still'), the motion one with DIS flow of
    ``flow_preset``; with ``weight`` 0 every frame stays as it is, and no optical flow (nor
    OpenCV) is needed."""
    if stabilize not in STABILIZERS:
        raise UsageError(f"stabilize must be one of {', '.join(STABILIZERS)}, got '{stabilize}'")
    if stabilize == "motion" and weight > 0:
        return MotionCompensatedSmoother(weight, scene_cut, flow=FlowEstimator(flow_preset))
    return ChromaSmoother(weight, scene_cut)


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().float().cpu().numpy())


def _to_uint8(luma: np.ndarray) -> np.ndarray:
    return np.clip(luma * 255 + 0.5, 0, 255).astype(np.uint8)
