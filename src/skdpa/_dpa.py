"""Deep Partition Aggregation: certified against general poisoning."""

from sklearn.utils._param_validation import StrOptions

from ._base import BasePartitionEnsemble, _num_rows
from ._hashing import check_hash_values, content_hash, sum_hash


class DPAClassifier(BasePartitionEnsemble):
    """Deep Partition Aggregation classifier (Levine & Feizi, ICLR 2021).

    The training set is split into ``k`` partitions by a deterministic hash of
    each sample's content; one clone of ``estimator`` is fit per partition and
    predictions are the plurality vote of the members, ties going to the
    smaller class index. Every prediction comes with a certified radius
    (Theorem 1): no insertion or removal of up to ``radius`` training samples,
    in any combination, can change it. Because the built-in hashers ignore the
    label, a label flip touches one partition and counts once.

    Read :ref:`theory` before relying on a certificate: preprocessing fit on the
    whole training set (a scaler placed *before* ``DPAClassifier`` in a
    Pipeline) voids the guarantee; put it inside ``estimator`` instead, where it
    is fit per partition.

    Parameters
    ----------
    estimator : object, default=None
        The base classifier, cloned once per partition. ``None`` means
        :class:`~sklearn.tree.DecisionTreeClassifier`. Members are fit on labels
        encoded as class indices ``0..n_classes_-1`` and must predict those.
    k : int, default=50
        Number of partitions (the paper's ``k``). Larger ``k`` allows larger
        radii (at most ``k // 2``) at the cost of members trained on less data.
    hasher : {"content", "sum"} or callable, default="content"
        How a sample's partition is chosen (``hash(x) % k``):

        - ``"content"``: a stable 64-bit digest of the row's values, independent
          of memory layout, position, the other rows and the process. Equal
          numbers hash alike in any dtype (``3``, ``3.0``, ``"3"``), but a
          float32 copy of fractional data holds other numbers than its float64
          original (``np.float32(0.1) != 0.1``) and lands in other partitions.
        - ``"sum"``: the paper's sum of values (integer pixels sum exactly as in
          the reference code; fractional values in fixed point).
        - callable ``X -> (n_samples,)`` non-negative integers; it must depend
          on each row's content only, or the certificate is void.
    n_jobs : int, default=None
        Members fitted (and predicted) in parallel through joblib. ``None``
        means 1 unless in a :func:`joblib.parallel_backend` context; ``-1``
        uses all processors. Any joblib backend works (e.g. ``"dask"``).
    random_state : int, RandomState instance or None, default=None
        Member ``i`` is seeded from ``(random_state, i)``; with ``None`` its
        seed is ``i``. Every ``random_state`` parameter of the member (and
        torch's RNG, in the process that fits it) is set from that seed, so
        fits are reproducible either way. The global RNG is never used.
    verbose : int, default=0
        Show a progress bar over member fits (``tqdm`` if installed,
        otherwise joblib's messages).

    Attributes
    ----------
    estimator_ : estimator
        The base estimator the members were cloned from.
    estimators_ : list of length k
        Fitted members. A partition with a single class holds a
        :class:`~sklearn.dummy.DummyClassifier` voting that class (the base
        estimator is not called); an empty partition holds ``None`` and
        abstains.
    estimators_samples_ : list of k ndarrays
        Indices into the training data of each partition, in the canonical
        order the member was fit in.
    partition_sizes_ : ndarray of shape (k,)
        Number of training samples in each partition.
    classes_ : ndarray of shape (`n_classes_`,)
        Class labels.
    n_classes_ : int
        Number of classes.
    certificate_ : Certificate
        What a radius counts; ``print(est.certificate_)`` states the threat
        model, ``k`` and the largest reachable radius.
    n_features_in_ : int
        Number of features seen during fit (not set for text input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X was a DataFrame.

    See Also
    --------
    SSDPAClassifier : label-flip certificates with semi-supervised members.
    skdpa.certified_radius : the radius formula for stored vote counts.

    References
    ----------
    .. [1] A. Levine and S. Feizi, "Deep Partition Aggregation: Provable Defenses
       against General Poisoning Attacks", ICLR 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdpa import DPAClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DPAClassifier(k=10).fit(X[:1500], y[:1500])
    >>> y_pred, radius = clf.predict_certified(X[1500:])
    >>> radius.max() <= clf.certificate_.max_radius
    True
    >>> clf.vote_counts(X[1500:1501]).sum()
    10
    """

    _parameter_constraints: dict = {
        **BasePartitionEnsemble._parameter_constraints,
        "hasher": [StrOptions({"content", "sum"}), callable],
    }

    _threat_model = "inserting, removing or relabelling (in any combination)"

    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        hasher="content",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            estimator=estimator,
            k=k,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.hasher = hasher

    def _hash(self, X, content=None):
        if self.hasher == "content":
            return content_hash(X) if content is None else content
        if self.hasher == "sum":
            return sum_hash(X)
        return check_hash_values(self.hasher(X), _num_rows(X))

    def _assign_training(self, X, h, labeled):
        return (self._hash(X, h) % self.k).astype("int64")

    def assign_partitions(self, X):
        """Partition each sample would be placed in, were it in the training set.

        Needs no fitted state: the partition of a sample depends only on its
        content, ``hasher`` and ``k``. Use it to reason about attacks (which
        members an inserted sample would touch).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Samples.

        Returns
        -------
        partitions : ndarray of shape (n_samples,), dtype int64
            Values in ``[0, k)``.

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa import DPAClassifier
        >>> X = np.array([[1.0, 2.0], [1, 2], [3, 4]])
        >>> p = DPAClassifier(k=7).assign_partitions(X)
        >>> bool(p[0] == p[1]), bool(0 <= p.min() and p.max() < 7)
        (True, True)
        """
        self._validate_params()
        if self.__sklearn_is_fitted__():
            _, X = self._check_X(X, reset=False)
        else:
            X = self._check_X_unfitted(X)
        return (self._hash(X) % self.k).astype("int64")
