"""A CompactCNN whose training batches are also mirrored left to right.

In its own importable module for the same reason as ``_torch_modules.py``:
skorch pickles a fitted module by class name, so worker processes must be able
to import it. Mirroring is a label-preserving transform for clothing (not for
digits); the flips, like CompactCNN's shifts, are drawn from torch's generator,
which the ensemble seeds per member (and MultiSeedClassifier per run).
"""

import torch

from skdpa.torch import CompactCNN
from skdpa.torch._modules import _as_images, random_shift


class FlipShiftCNN(CompactCNN):
    """CompactCNN with random horizontal flips added to its random shifts."""

    def forward(self, x):
        x = _as_images(x, self.image_shape)
        if self.training:
            flip = torch.rand(len(x), device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            x = random_shift(x, self.max_shift)
        return self.classifier(self.features(x))
