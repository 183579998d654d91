"""Ready-made torch modules for flattened image rows.

scikit-learn hands estimators 2-D arrays, so every module here takes rows of
``C * H * W`` values (for example ``(n, 784)`` for 28x28 grey images) and
reshapes them itself. Each module outputs ``n_classes`` logits: inside a
:class:`~skdpa.DPAClassifier` that must be the *global* number of classes, as
members are fit on class indices ``0..n_classes_-1`` even when their partition
misses some classes.
"""

import torch
from torch import nn
from torch.nn import functional as F

from . import _noise


def _as_images(x, image_shape):
    """Rows of flattened pixels (or images already shaped ``(n, C, H, W)``) ->
    float32 batch of images ``(n, C, H, W)``."""
    n_values = 1
    for size in image_shape:
        n_values *= int(size)
    if x.ndim == 4 and tuple(x.shape[1:]) == tuple(image_shape):
        return x.to(torch.float32)
    if x.ndim != 2 or x.shape[1] != n_values:
        # torch's own reshape error names neither the module nor the fix
        raise ValueError(
            f"image_shape={tuple(image_shape)} needs rows of {n_values} values; "
            f"got input of shape {tuple(x.shape)}. Pass the shape of your images "
            "to the module, e.g. make_skorch_member(..., "
            "module__image_shape=(1, 8, 8)) for 8x8 grey images."
        )
    return x.reshape(-1, *image_shape).to(torch.float32)


def random_shift(images, max_shift):
    """Translate each image by a random whole number of pixels, zero-filled.

    Offsets are drawn from torch's global generator, which
    :func:`skdpa.torch.seeded_fit` seeds per member, so the augmentation is a
    deterministic function of the member's seed. (They go through skdpa's
    noise provider, ``skdpa.torch._noise.randint``: the same call outside a
    stacked trainer; members stacked by ``make_batched_member(...,
    strategy="vmap")`` get their own stream's offsets there.)

    Parameters
    ----------
    images : torch.Tensor of shape (n, C, H, W)
        Batch of images.
    max_shift : int
        Largest shift, in pixels, along each axis.

    Returns
    -------
    shifted : torch.Tensor of shape (n, C, H, W)
        The shifted images.
    """
    if max_shift <= 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = _noise.randint(0, 2 * max_shift + 1, (n, 2), device=images.device)
    # image i is the h x w window of its padded image whose top-left corner
    # is offsets[i]: one gather along the flattened padded pixels (a third of
    # the time of advanced indexing with three index tensors on a CPU)
    width = w + 2 * max_shift
    corner = offsets[:, 0] * width + offsets[:, 1]
    window = torch.arange(h, device=images.device)[:, None] * width
    window = (window + torch.arange(w, device=images.device)).reshape(1, h * w)
    index = (corner[:, None] + window)[:, None, :].expand(n, c, h * w)
    return padded.reshape(n, c, -1).gather(2, index).reshape(n, c, h, w)


class CompactCNN(nn.Module):
    """Small two-layer CNN for 28x28 images given as flattened rows.

    ``conv5x5/2 -> ReLU -> conv3x3/2 -> ReLU -> dropout -> linear``. Strided
    convolutions instead of max-pooling keep activations small, which is what
    costs time on a CPU: evaluating ``k`` members on a test set dominates the
    cost of a large ensemble, and this module does it in tens of microseconds
    per image and member.

    Parameters
    ----------
    n_classes : int, default=10
        Number of logits; inside a DPA ensemble, the number of classes of the
        whole training set.
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` of one image; rows hold
        ``prod(image_shape)`` values.
    channels : tuple of (int, int), default=(16, 32)
        Output channels of the two convolutions.
    dropout : float, default=0.25
        Dropout probability before the linear layer.
    max_shift : int, default=2
        Random translation (in pixels) applied to training batches only; 0
        turns augmentation off.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import CompactCNN
    >>> CompactCNN(n_classes=10)(torch.zeros(3, 784)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        n_classes=10,
        image_shape=(1, 28, 28),
        channels=(16, 32),
        dropout=0.25,
        max_shift=2,
    ):
        super().__init__()
        c, h, w = image_shape
        c1, c2 = channels
        self.image_shape = tuple(image_shape)
        self.max_shift = int(max_shift)
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        h, w = (h + 1) // 2, (w + 1) // 2
        h, w = (h + 1) // 2, (w + 1) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c2 * h * w, n_classes),
        )

    def forward(self, x):
        """Logits for a batch of flattened images.

        Parameters
        ----------
        x : torch.Tensor of shape (n, C*H*W) or (n, C, H, W)
            Pixel rows.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_classes)
        """
        x = _as_images(x, self.image_shape)
        if self.training:
            x = random_shift(x, self.max_shift)
        return self.classifier(self.features(x))


def _nin_block(c_in, widths, kernel):
    """One Network-in-Network block: a k x k convolution then two 1x1 ones."""
    layers = []
    for i, c_out in enumerate(widths):
        size = kernel if i == 0 else 1
        layers += [
            nn.Conv2d(c_in, c_out, size, padding=size // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        c_in = c_out
    return nn.Sequential(*layers)


class NetworkInNetwork(nn.Module):
    """Network-in-Network (Lin et al., 2013) as used by DPA for MNIST/CIFAR.

    The three-block variant of Gidaris et al. (2018) that Levine & Feizi
    (ICLR 2021) train per partition: blocks of a 5x5 (then 5x5, 3x3)
    convolution followed by two 1x1 convolutions, each with batch
    normalisation and ReLU; max-pooling after the first block and
    average-pooling after the second; global average pooling and a linear
    classifier. It is meant for reproducing the paper on a GPU; on a CPU prefer
    :class:`CompactCNN`.

    Parameters
    ----------
    n_classes : int, default=10
        Number of logits (global number of classes inside an ensemble).
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` of one image.
    width : int, default=192
        Channels of every convolution (the first block's 1x1 layers use 160
        and 96, as in the reference architecture).
    max_shift : int, default=2
        Random translation (pixels) of training batches; 0 turns it off. The
        paper uses random crops without horizontal flips.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import NetworkInNetwork
    >>> NetworkInNetwork(n_classes=10, width=16)(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes=10, image_shape=(1, 28, 28), width=192, max_shift=2):
        super().__init__()
        c = image_shape[0]
        self.image_shape = tuple(image_shape)
        self.max_shift = int(max_shift)
        first = (width, max(width * 5 // 6, 1), max(width // 2, 1))
        self.blocks = nn.Sequential(
            _nin_block(c, first, 5),
            nn.MaxPool2d(3, stride=2, padding=1),
            _nin_block(first[-1], (width, width, width), 5),
            nn.AvgPool2d(3, stride=2, padding=1),
            _nin_block(width, (width, width, width), 3),
        )
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, x):
        """Logits for a batch of flattened images.

        Parameters
        ----------
        x : torch.Tensor of shape (n, C*H*W) or (n, C, H, W)
            Pixel rows.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_classes)
        """
        x = _as_images(x, self.image_shape)
        if self.training:
            x = random_shift(x, self.max_shift)
        x = self.blocks(x)
        return self.classifier(x.mean(dim=(2, 3)))
