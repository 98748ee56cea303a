"""Video: decoding, colorizing and encoding (:mod:`~ganforge.video.pipeline`), chroma smoothing along the
motion, optical flow, and synthetic clips with known motion."""
