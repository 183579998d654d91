"""SimCLR: a contrastive, label-free image embedding for SS-DPA.

Chen et al. (2020), "A Simple Framework for Contrastive Learning of Visual
Representations": two random augmentations of every image in a batch are
pulled together and pushed away from the other images (NT-Xent loss). It is
the embedding Levine & Feizi (ICLR 2021) use for SS-DPA on CIFAR-10 and GTSRB.

The augmentations are written here with ``affine_grid``/``grid_sample`` on
whole batches (no per-image Python loop and no torchvision dependency); their
randomness comes from torch's generator, which :func:`seeded_torch` seeds.
"""

import math

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

from .._persistence import ParamDefaultsOnLoad
from ._embedding import as_images, batched_features, check_image_shape, conv_bn
from ._seeding import seeded_torch


class _SimCLRNetwork(nn.Module):
    """Encoder (three conv blocks, two strided, average-pooled) + projection head.

    The encoder is sized for a CPU: on 28x28 images one epoch over 60,000
    images (two views each) takes about half a minute on two cores.
    """

    def __init__(self, in_channels, channels, projection_dim):
        super().__init__()
        c1, c2, c3 = channels
        self.encoder = nn.Sequential(
            conv_bn(in_channels, c1, 5, 2),
            conv_bn(c1, c2, 3, 2),
            conv_bn(c2, c3, 3, 1),
        )
        self.projection = nn.Sequential(
            nn.Linear(c3, c3),
            nn.BatchNorm1d(c3),
            nn.ReLU(inplace=True),
            nn.Linear(c3, projection_dim),
        )

    def features(self, x):
        return self.encoder(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.projection(self.features(x))


def augment_views(images, crop_scale=(0.3, 1.0), flip=True, jitter=0.4):
    """Random resized crops, horizontal flips and contrast/brightness changes.

    One random transform per image, drawn from torch's global generator. Crops
    cover a fraction ``crop_scale`` of the image area with aspect ratio in
    [3/4, 4/3] and are resized back to the full image; the area outside the
    image reads as zero (the background of centred item images).

    Parameters
    ----------
    images : torch.Tensor of shape (n, C, H, W)
        Batch of images, pixel values in their original range.
    crop_scale : (float, float), default=(0.3, 1.0)
        Smallest and largest share of the image area a crop covers.
    flip : bool, default=True
        Mirror half of the images left to right.
    jitter : float, default=0.4
        Contrast factor drawn from ``[1 - jitter, 1 + jitter]`` and brightness
        offset from ``[-jitter / 4, jitter / 4]`` (in pixel units of a [0, 1]
        range); 0 turns it off.

    Returns
    -------
    views : torch.Tensor of shape (n, C, H, W)
        The augmented images.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import seeded_torch
    >>> from skdpa.torch._simclr import augment_views
    >>> with seeded_torch(0):
    ...     views = augment_views(torch.rand(4, 1, 28, 28))
    >>> views.shape
    torch.Size([4, 1, 28, 28])
    """
    n = images.shape[0]
    dev = images.device
    area = torch.empty(n, device=dev).uniform_(*crop_scale)
    log_ratio = torch.empty(n, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    ratio = torch.exp(log_ratio)
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    # centre of the crop, so that the crop stays inside the image
    cx = (torch.rand(n, device=dev) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, device=dev) * 2 - 1) * (1 - height)
    mirror = torch.ones(n, device=dev)
    if flip:
        mirror = torch.where(torch.rand(n, device=dev) < 0.5, -mirror, mirror)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = width * mirror
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = height
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    views = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    if jitter:
        contrast = torch.empty(n, 1, 1, 1, device=dev).uniform_(1 - jitter, 1 + jitter)
        shift = torch.empty(n, 1, 1, 1, device=dev).uniform_(-jitter / 4, jitter / 4)
        views = views * contrast + shift
    return views


def nt_xent_loss(z1, z2, temperature):
    """Normalised temperature-scaled cross entropy of two views (SimCLR).

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are the positive pair; the
    other ``2n - 2`` rows of the batch are the negatives.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (n, d)
        Projections of the two views.
    temperature : float
        Softmax temperature of the cosine similarities.

    Returns
    -------
    loss : torch.Tensor
        Scalar mean loss over the ``2n`` views.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch._simclr import nt_xent_loss
    >>> z = torch.eye(4)
    >>> bool(nt_xent_loss(z, z, 0.1) < nt_xent_loss(z, z.roll(1, 0), 0.1))
    True
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


class SimCLREmbedding(
    ParamDefaultsOnLoad,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Self-supervised image features learnt by contrasting augmented views.

    A small CNN is trained without labels so that two random augmentations
    (crop, flip, contrast) of the same image map close together and away from
    the other images of the batch (SimCLR, Chen et al., 2020; the paper's
    choice for SS-DPA on CIFAR-10 and GTSRB). ``fit`` never reads ``y``, so
    the embedding can be fit once on all training rows and shared by every
    SS-DPA member; ``transform`` returns the encoder's average-pooled output
    (the projection head is only used for training).

    The result is a deterministic function of the rows *in the order given*
    and ``random_state`` (initial weights, batch order and augmentations come
    from an isolated, seeded torch generator, on a fixed number of threads).
    :class:`~skdpa.SSDPAClassifier` passes the rows in a canonical order of
    their content, so the ensemble does not depend on the row order.
    Normalisation constants come from the fit data: legitimate here because
    SS-DPA trusts the samples (only labels may be poisoned).

    Parameters
    ----------
    image_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)``; rows hold ``prod(image_shape)`` values.
    channels : tuple of (int, int, int), default=(32, 64, 128)
        Channels of the three convolution blocks; the last one is the
        embedding's dimension.
    projection_dim : int, default=64
        Output size of the projection head the loss is computed on.
    max_epochs : int, default=20
        Passes over the data.
    batch_size : int, default=256
        Images per step (each gives two views).
    lr : float, default=2e-3
        Peak AdamW learning rate (one-cycle schedule: warm-up over the first
        5% of the steps, then cosine decay).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    temperature : float, default=0.3
        Temperature of the NT-Xent loss.
    crop_scale : tuple of (float, float), default=(0.3, 1.0)
        Range of the share of the image area a random crop covers.
    flip : bool, default=True
        Random horizontal flips (set False for images whose mirror image is
        another class, such as digits).
    jitter : float, default=0.4
        Strength of the random contrast and brightness changes.
    max_samples : int or None, default=None
        Train on the first ``max_samples`` rows only; None uses every row.
    random_state : int, default=0
        Seed of initialisation, batch order and augmentations.
    device : str, default="cpu"
        Torch device for training and transform.
    verbose : int, default=0
        Print the loss after each epoch when positive.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on CPU, eval mode).
    mean_, scale_ : float
        Pixel mean and standard deviation of the fit data.
    loss_curve_ : list of float
        Mean contrastive loss per epoch.
    n_features_in_ : int
        Values per input row.

    See Also
    --------
    RotNetEmbedding : rotation prediction, the paper's choice for MNIST.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.torch import SimCLREmbedding
    >>> X = np.random.default_rng(0).random((32, 784), dtype=np.float32)
    >>> emb = SimCLREmbedding(channels=(4, 8, 16), max_epochs=1, batch_size=16)
    >>> emb.fit(X).transform(X).shape
    (32, 16)
    """

    def __init__(
        self,
        image_shape=(1, 28, 28),
        channels=(32, 64, 128),
        projection_dim=64,
        max_epochs=20,
        batch_size=256,
        lr=2e-3,
        weight_decay=1e-4,
        temperature=0.3,
        crop_scale=(0.3, 1.0),
        flip=True,
        jitter=0.4,
        max_samples=None,
        random_state=0,
        device="cpu",
        verbose=0,
    ):
        self.image_shape = image_shape
        self.channels = channels
        self.projection_dim = projection_dim
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.crop_scale = crop_scale
        self.flip = flip
        self.jitter = jitter
        self.max_samples = max_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self, X):
        check_image_shape(X, self.image_shape)
        if not (isinstance(self.batch_size, int | np.integer) and self.batch_size >= 2):
            raise ValueError(
                "batch_size must be an int >= 2 (each image needs other images as "
                f"negatives); got {self.batch_size!r}."
            )
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(
                "crop_scale must satisfy 0 < low <= high <= 1; got "
                f"{tuple(self.crop_scale)}."
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature!r}.")

    def fit(self, X, y=None):
        """Train the contrastive network on the rows of X (labels are ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, C*H*W)
            Flattened images, at least two.
        y : ignored
            Never read: the embedding is label-blind.

        Returns
        -------
        self : SimCLREmbedding
            The fitted embedding.
        """
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
        self._check_params(X)
        if self.max_samples is not None and self.max_samples < len(X):
            X = X[: self.max_samples]
        self.mean_ = float(X.mean())
        self.scale_ = float(max(X.std(), 1e-6))
        images = as_images(X, self.image_shape)
        device = torch.device(self.device)
        # full batches only (batch norm and the loss need several images);
        # a data set smaller than one batch is one batch
        batch = min(self.batch_size, len(images))
        n_batches = len(images) // batch
        with seeded_torch(self.random_state):
            net = _SimCLRNetwork(
                self.image_shape[0], self.channels, self.projection_dim
            ).to(device)
            opt = torch.optim.AdamW(
                net.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt,
                max_lr=self.lr,
                total_steps=max(self.max_epochs * n_batches, 1),
                pct_start=0.05,
            )
            self.loss_curve_ = []
            net.train()
            for epoch in range(self.max_epochs):
                perm = torch.randperm(len(images))
                total = 0.0
                for b in range(n_batches):
                    rows = images[perm[b * batch : (b + 1) * batch]].to(device)
                    pair = torch.cat([rows, rows])
                    views = augment_views(
                        pair, tuple(self.crop_scale), self.flip, self.jitter
                    )
                    z = net((views - self.mean_) / self.scale_)
                    loss = nt_xent_loss(z[:batch], z[batch:], self.temperature)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += loss.item()
                self.loss_curve_.append(total / max(n_batches, 1))
                if self.verbose > 0:
                    print(f"SimCLR epoch {epoch + 1}: loss {self.loss_curve_[-1]:.4f}")
        self.network_ = net.to("cpu").eval()
        self._n_features_out = int(self.channels[-1])
        return self

    def transform(self, X):
        """Embed rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, C*H*W)
            Flattened images.

        Returns
        -------
        X_new : ndarray of shape (n_samples, channels[-1]), dtype float32
            Average-pooled encoder output.
        """
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=np.float32, reset=False)

        def images(rows):
            return (as_images(rows, self.image_shape) - self.mean_) / self.scale_

        return batched_features(self.network_, X, images, self.device)
