"""Training of the perception model: candidates from the runtime's pre-processing, PyTorch
training, ONNX export and model packages; ``longtail model …`` lives in ``cli``."""
