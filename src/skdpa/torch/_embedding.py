"""Pieces shared by the label-free image embeddings (RotNet, SimCLR)."""

import numpy as np
import torch
from torch import nn


def conv_bn(c_in, c_out, kernel, stride):
    """Convolution (no bias), batch norm, ReLU; padding keeps odd kernels centred."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def check_image_shape(X, image_shape):
    """Raise unless every row of X holds ``prod(image_shape)`` values."""
    n_values = int(np.prod(image_shape))
    if X.shape[1] != n_values:
        raise ValueError(
            f"image_shape={tuple(image_shape)} needs {n_values} features "
            f"per row; got {X.shape[1]}."
        )


def as_images(X, image_shape):
    """Rows of flattened pixels (NumPy) -> float32 tensor ``(n, C, H, W)``."""
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return x.reshape(-1, *image_shape)


def batched_features(network, X, images, device, batch_size=1024):
    """``network.features`` of the rows of X, in batches, as float32 NumPy.

    X holds at least one row (the embeddings' ``validate_data`` ensures it).
    ``images`` turns a slice of rows into the network's input tensor. The
    network runs on ``device`` in inference mode and is moved back to the CPU
    afterwards.
    """
    device = torch.device(device)
    network.to(device)
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(X), batch_size):
                batch = images(X[start : start + batch_size]).to(device)
                out.append(network.features(batch).cpu())
    finally:
        network.to("cpu")
    return torch.cat(out).numpy()
