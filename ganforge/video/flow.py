"""Dense optical flow between video frames, and warping along it (OpenCV, the ``video`` extra).

OpenCV's DIS flow (Kroeger et al., ECCV 2016) is used because it is the fastest
dense flow with a maintained CPU implementation. Its ``medium`` preset (flow at
half resolution, with variational refinement) takes about 4 ms at 228x128 on
this project's 2-core CI machine; ``ultrafast`` (quarter resolution) takes under
one but, measured on clips with known motion, leaves chroma flicker on moving
pixels 1.7x higher (benchmarks/video_stability.py).
"""

from __future__ import annotations

import numpy as np

from ganforge.core.errors import UsageError

PRESETS = ("ultrafast", "fast", "medium")


def _import_cv2():
    try:
        import cv2
    except ImportError:
        raise UsageError("motion-compensated video needs OpenCV: pip install 'ganforge[video]'") from None
    return cv2


class FlowEstimator:
    """DIS optical flow on 8-bit luma, computed at most ``max_side`` pixels on the long side
    (and scaled back up): chroma needs motion, not sub-pixel detail."""

    def __init__(self, preset: str = "medium", max_side: int = 512) -> None:
        if preset not in PRESETS:
            raise UsageError(f"flow preset must be one of {', '.join(PRESETS)}, got '{preset}'")
        self._cv2 = _import_cv2()
        self._dis = self._cv2.DISOpticalFlow_create(getattr(self._cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
        self.max_side = max_side

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``(h, w)`` uint8 frames -> ``(h, w, 2)`` float32 flow (x, y) with ``source(p) ~ target(p + flow(p))``."""
        height, width = source.shape
        scale = min(1.0, self.max_side / max(height, width))
        if scale == 1.0:
            return self._dis.calc(source, target, None)
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        shrink = [self._cv2.resize(frame, small, interpolation=self._cv2.INTER_AREA) for frame in (source, target)]
        flow = self._cv2.resize(self._dis.calc(*shrink, None), (width, height), interpolation=self._cv2.INTER_LINEAR)
        flow[..., 0] *= width / small[0]
        flow[..., 1] *= height / small[1]
        return flow


class Warp:
    """Sampling along one flow field: image ``p`` is read at ``p + flow(p)`` (bilinear, edges repeated).
    The maps are made once and reused for every image warped along the same flow."""

    def __init__(self, flow: np.ndarray) -> None:
        self._cv2 = _import_cv2()
        height, width = flow.shape[:2]
        map_x = flow[..., 0] + np.arange(width, dtype=np.float32)
        map_y = flow[..., 1] + np.arange(height, dtype=np.float32)[:, None]
        self.inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        self._maps = self._cv2.convertMaps(map_x, map_y, self._cv2.CV_16SC2)  # fixed point (1/32 px): faster remap

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``image`` ``(h, w)`` or ``(h, w, c)`` float32, warped."""
        return self._cv2.remap(
            image, *self._maps, interpolation=self._cv2.INTER_LINEAR, borderMode=self._cv2.BORDER_REPLICATE
        )


def reliable(backward: np.ndarray, forward: np.ndarray, along: Warp | None = None) -> np.ndarray:
    """Where the ``backward`` flow (current -> previous frame) can be trusted, ``(h, w)`` bool.

    A pixel passes if it lands inside the previous frame and the ``forward`` flow
    (previous -> current) brings it back to where it started, within the tolerance of
    Sundaram, Brox and Keutzer (ECCV 2010): occluded, disoccluded and mismatched
    pixels fail. ``along``: the :class:`Warp` of ``backward``, if made already.
    """
    along = along or Warp(backward)
    returned = along(forward)
    (bx, by), (rx, ry) = (backward[..., 0], backward[..., 1]), (returned[..., 0], returned[..., 1])
    mismatch = (bx + rx) ** 2 + (by + ry) ** 2
    tolerance = 0.01 * (bx * bx + by * by + rx * rx + ry * ry) + 0.5
    return along.inside & (mismatch < tolerance)
