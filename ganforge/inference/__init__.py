"""A checkpoint in, colors out: the :class:`~ganforge.inference.colorizer.Colorizer`, checkpoints, the ONNX
backend, edge-aware upsampling, and colorizing files and folders."""
