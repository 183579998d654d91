"""Building skorch members that are right for an ensemble by default."""

import inspect
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from .._persistence import ParamDefaultsOnLoad
from ._modules import CompactCNN


class ImageStandardizer(ParamDefaultsOnLoad, TransformerMixin, BaseEstimator):
    """Per-channel standardisation with statistics of the data it is fit on.

    The paper's footnote 4: normalisation constants must come from each
    partition, not from the whole training set (a global statistic would let
    one poisoned sample move every member). Put this transformer *inside* the
    member, e.g. as the first step of a :class:`~sklearn.pipeline.Pipeline`
    (which :func:`make_skorch_member` does), never before the ensemble.

    Unlike :class:`~sklearn.preprocessing.StandardScaler`, which estimates one
    mean and scale per pixel (noisy on a partition of a few dozen images),
    this estimates one mean and one standard deviation per channel.

    Parameters
    ----------
    n_channels : int, default=1
        Channels per image; rows are ``n_channels`` equal blocks of pixels
        (channels first).
    eps : float, default=1e-6
        Floor on the standard deviation (a constant partition stays finite).

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Per-channel mean of the fit data.
    scale_ : ndarray of shape (n_channels,)
        Per-channel standard deviation of the fit data (at least ``eps``).
    n_features_in_ : int
        Number of values per row.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.torch import ImageStandardizer
    >>> Xt = ImageStandardizer().fit_transform(np.array([[0.0, 2.0], [4.0, 6.0]]))
    >>> Xt.dtype, round(float(Xt.mean()), 6)
    (dtype('float32'), 0.0)
    """

    def __init__(self, n_channels=1, eps=1e-6):
        self.n_channels = n_channels
        self.eps = eps

    def _blocks(self, X):
        n, d = X.shape
        if d % self.n_channels:
            raise ValueError(
                f"n_channels={self.n_channels} must divide the number of "
                f"features per row; got {d}."
            )
        return X.reshape(n, self.n_channels, d // self.n_channels)

    def fit(self, X, y=None):
        """Estimate the per-channel mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images, channels first.
        y : ignored
            Not used; present for API consistency.

        Returns
        -------
        self : ImageStandardizer
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=np.float64)
        blocks = self._blocks(X)
        self.mean_ = blocks.mean(axis=(0, 2))
        self.scale_ = np.maximum(blocks.std(axis=(0, 2)), self.eps)
        return self

    def transform(self, X):
        """Standardise X with the fitted statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images, channels first.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features), dtype float32
            Standardised rows, in the dtype torch modules expect.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        blocks = self._blocks(X)
        out = (blocks - self.mean_[:, None]) / self.scale_[:, None]
        return out.reshape(X.shape).astype(np.float32)


def make_skorch_member(
    module=CompactCNN,
    *,
    n_classes,
    n_classes_param="n_classes",
    standardize=True,
    n_channels=1,
    max_epochs=30,
    lr=1e-3,
    batch_size=64,
    optimizer=None,
    device="cpu",
    predict_batch_size=2048,
    **net_params,
):
    """A skorch classifier configured to be a DPA / SS-DPA member.

    The defaults fix the things that silently go wrong when a plain
    :class:`skorch.NeuralNetClassifier` is dropped into an ensemble:

    * ``module__<n_classes_param>=n_classes``: members are fit on class
      *indices* of the whole label set and must output that many logits even
      when their partition misses classes. Give the ensemble the label set
      (``classes=``) and pass ``n_classes=len(classes)``.
    * ``train_split=None``: skorch's default holds out a fifth of the data
      for validation; a member trains on its whole partition. Pass
      ``train_split=...`` to ask for a split anyway.
    * ``criterion=CrossEntropyLoss`` on logits, ``verbose=0``, shuffled
      training batches (from torch's generator, which the ensemble seeds per
      member).
    * ``standardize=True`` prepends :class:`ImageStandardizer` so inputs are
      normalised with *this partition's* statistics (and cast to float32).

    Parameters
    ----------
    module : type of torch.nn.Module, default=CompactCNN
        Module class; it takes rows of flattened inputs and an argument,
        named by `n_classes_param`, for its number of logits.
    n_classes : int
        Number of classes of the whole label set (at least 2).
    n_classes_param : str or None, default="n_classes"
        Name of the module's argument that sets its number of logits, e.g.
        ``"num_classes"`` for ``MyNet(num_classes=...)``. None passes no such
        argument (size the output yourself, e.g. with ``module__...``).
    standardize : bool, default=True
        Return ``Pipeline([("standardize", ImageStandardizer()), ("net", net)])``
        instead of the bare net.
    n_channels : int, default=1
        Image channels, for the standardiser.
    max_epochs : int, default=30
        Training epochs of every member.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=64
        Training batch size.
    optimizer : type of torch.optim.Optimizer or None, default=None
        Optimizer class; None means :class:`torch.optim.Adam`.
    device : str, default="cpu"
        Torch device. With ``"cuda"`` fit the ensemble with ``n_jobs=1`` (or
        joblib's threading backend): see :func:`seeded_fit`.
    predict_batch_size : int, default=2048
        Batch size for prediction (evaluating k members dominates the cost
        of a large ensemble).
    **net_params
        Any other :class:`skorch.NeuralNetClassifier` parameter
        (``module__channels=(8, 16)``, ``optimizer__weight_decay=1e-4``, ...);
        these override the defaults above.

    Returns
    -------
    member : Pipeline or skorch.NeuralNetClassifier
        Unfitted estimator to pass as ``DPAClassifier(estimator=member)``.

    Examples
    --------
    >>> from skdpa.torch import make_skorch_member
    >>> member = make_skorch_member(n_classes=10, max_epochs=5)
    >>> member.named_steps["net"].train_split is None
    True

    A module whose argument has another name:

    >>> from torch import nn
    >>> class MyNet(nn.Module):
    ...     def __init__(self, num_classes=2):
    ...         super().__init__()
    ...         self.linear = nn.Linear(64, num_classes)
    ...     def forward(self, x):
    ...         return self.linear(x)
    >>> net = make_skorch_member(
    ...     MyNet, n_classes=3, n_classes_param="num_classes", standardize=False
    ... )
    >>> net.module__num_classes
    3
    """
    import torch
    from skorch import NeuralNetClassifier

    if isinstance(n_classes, bool) or not isinstance(n_classes, Integral):
        raise TypeError(
            f"n_classes must be an int >= 2; got {n_classes!r} of type "
            f"{type(n_classes).__name__}."
        )
    if n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2; got {n_classes}.")
    params = {}
    if n_classes_param is not None:
        _check_module_takes(module, n_classes_param)
        params[f"module__{n_classes_param}"] = int(n_classes)
    params.update(
        {
            "criterion": torch.nn.CrossEntropyLoss,
            "optimizer": torch.optim.Adam if optimizer is None else optimizer,
            "lr": lr,
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "train_split": None,
            "iterator_train__shuffle": True,
            "iterator_valid__batch_size": predict_batch_size,
            "device": device,
            "verbose": 0,
        }
    )
    params.update(net_params)
    net = NeuralNetClassifier(module, **params)
    if not standardize:
        return net
    return Pipeline(
        [("standardize", ImageStandardizer(n_channels=n_channels)), ("net", net)]
    )


def _check_module_takes(module, name):
    """Raise early, naming the choices, if the module has no argument ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"n_classes_param must be None or the name of an argument of the "
            f"module; got {name!r}."
        )
    if not isinstance(module, type):
        return  # an instance: skorch re-creates it from module__ parameters
    try:
        signature = inspect.signature(module)
    except (TypeError, ValueError):  # no introspectable signature
        return
    parameters = signature.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    if name in parameters or takes_any:
        return
    choices = ", ".join(
        p.name for p in parameters.values() if p.kind is not p.VAR_POSITIONAL
    )
    raise ValueError(
        f"n_classes_param={name!r} is not an argument of {module.__name__}; its "
        f"arguments are: {choices or 'none'}. Pass the name of the argument that "
        "sets its number of logits (or None if there is none)."
    )
