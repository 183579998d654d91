"""RotNet: a label-free image embedding for SS-DPA (Gidaris et al., 2018)."""

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from .._hashing import canonical_order, content_hash
from .._persistence import ParamDefaultsOnLoad
from ._embedding import as_images, batched_features, check_image_shape, conv_bn
from ._seeding import seeded_torch


class _RotNetNetwork(nn.Module):
    """Three conv blocks (two strided); a 4-way rotation head on the last one.

    Strided convolutions rather than pooling keep activations small: on a CPU
    the cost of small convolutions is memory traffic, not arithmetic.
    """

    def __init__(self, in_channels, channels):
        super().__init__()
        c1, c2, c3 = channels
        self.block1 = conv_bn(in_channels, c1, 5, 2)
        self.block2 = conv_bn(c1, c2, 3, 2)
        self.block3 = conv_bn(c2, c3, 3, 1)
        self.head = nn.Linear(c3, 4)

    def forward(self, x):
        b1 = self.block1(x)
        b3 = self.block3(self.block2(b1))
        return b1, b3

    def rotation_logits(self, x):
        return self.head(self(x)[1].mean(dim=(2, 3)))

    def features(self, x):
        # For linear members trained on a few dozen labels, the first block
        # pooled to a coarse 7x7 grid transfers best (on Fashion-MNIST it beat
        # raw pixels and every deeper block we tried); the second block's
        # channel means add a little shape information.
        b1 = self.block1(x)
        b2 = self.block2(b1)
        size = min(7, b1.shape[-2], b1.shape[-1])
        return torch.cat(
            [F.adaptive_avg_pool2d(b1, size).flatten(1), b2.mean(dim=(2, 3))], dim=1
        )


class RotNetEmbedding(
    ParamDefaultsOnLoad,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Self-supervised image features learnt by predicting rotations.

    A small CNN is trained to tell which of 0, 90, 180 or 270 degrees each
    training image was rotated by (RotNet, Gidaris et al., 2018; the paper's
    choice for SS-DPA on MNIST). No label is ever read: ``fit`` ignores ``y``,
    so the embedding can be fit once on all (labelled and unlabelled)
    training rows and shared by every SS-DPA member. ``transform`` returns
    pooled activations of the two last blocks.

    The result is a deterministic function of the *set* of rows and
    ``random_state``: rows are put in canonical (content-hash) order before
    training and torch is seeded in an isolated generator. Normalisation
    constants are computed on the fit data; that is legitimate here because
    SS-DPA trusts the unlabelled samples (only labels may be poisoned).

    Parameters
    ----------
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)``; rows hold ``prod(image_shape)`` values.
    channels : tuple of (int, int, int), default=(32, 64, 128)
        Channels of the three convolution blocks.
    max_epochs : int, default=5
        Passes over the data (each pass shows every image in all four
        rotations).
    batch_size : int, default=128
        Images per step (each contributes four rotated copies).
    lr : float, default=1e-3
        Adam learning rate (cosine-annealed to zero).
    weight_decay : float, default=5e-4
        Adam weight decay.
    max_samples : int or None, default=None
        Train on at most this many rows, chosen by content hash (so still
        independent of row order); None uses every row. Speeds up CPU runs.
    random_state : int, default=0
        Seed of initialisation and batch order.
    device : str, default="cpu"
        Torch device for training and transform.
    verbose : int, default=0
        Print the rotation loss after each epoch when positive.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on CPU, eval mode).
    mean_, scale_ : float
        Pixel mean and standard deviation of the fit data.
    loss_curve_ : list of float
        Mean rotation-prediction loss per epoch.
    n_features_in_ : int
        Values per input row.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.torch import RotNetEmbedding
    >>> X = np.random.default_rng(0).random((16, 784))
    >>> emb = RotNetEmbedding(channels=(4, 8, 8), max_epochs=1).fit(X)
    >>> emb.transform(X).shape
    (16, 204)
    """

    def __init__(
        self,
        image_shape=(1, 28, 28),
        channels=(32, 64, 128),
        max_epochs=5,
        batch_size=128,
        lr=1e-3,
        weight_decay=5e-4,
        max_samples=None,
        random_state=0,
        device="cpu",
        verbose=0,
    ):
        self.image_shape = image_shape
        self.channels = channels
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_samples = max_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _images(self, X):
        return (as_images(X, self.image_shape) - self.mean_) / self.scale_

    def fit(self, X, y=None):
        """Train the rotation network on the rows of X (labels are ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, C*H*W)
            Flattened images.
        y : ignored
            Never read: the embedding is label-blind.

        Returns
        -------
        self : RotNetEmbedding
            The fitted embedding.
        """
        X = validate_data(self, X, dtype=np.float32)
        check_image_shape(X, self.image_shape)
        X = X[canonical_order(X, content_hash(X))]
        if self.max_samples is not None and self.max_samples < len(X):
            # canonical order is hash order: its head is a content-chosen subset
            X = X[: self.max_samples]
        self.mean_ = float(X.mean())
        self.scale_ = float(max(X.std(), 1e-6))
        images = self._images(X)
        device = torch.device(self.device)
        with seeded_torch(self.random_state):
            net = _RotNetNetwork(self.image_shape[0], self.channels).to(device)
            opt = torch.optim.Adam(
                net.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            n_steps = self.max_epochs * -(-len(images) // self.batch_size)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(n_steps, 1))
            rot_labels = torch.arange(4, device=device)
            self.loss_curve_ = []
            net.train()
            for epoch in range(self.max_epochs):
                perm = torch.randperm(len(images))
                total = 0.0
                for start in range(0, len(images), self.batch_size):
                    batch = images[perm[start : start + self.batch_size]].to(device)
                    rotated = torch.cat(
                        [torch.rot90(batch, r, dims=(2, 3)) for r in range(4)]
                    )
                    target = rot_labels.repeat_interleave(len(batch))
                    loss = F.cross_entropy(net.rotation_logits(rotated), target)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += loss.item() * len(batch)
                self.loss_curve_.append(total / len(images))
                if self.verbose > 0:
                    print(f"RotNet epoch {epoch + 1}: loss {self.loss_curve_[-1]:.4f}")
        self.network_ = net.to("cpu").eval()
        with torch.inference_mode():
            probe = torch.zeros(1, *self.image_shape)
            self._n_features_out = self.network_.features(probe).shape[1]
        return self

    def transform(self, X):
        """Embed rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, C*H*W)
            Flattened images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            float32 features: ``channels[0] * min(7, H/2)**2 + channels[1]``
            values (1,632 for 28x28 inputs and the default channels).
        """
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return batched_features(self.network_, X, self._images, self.device)
