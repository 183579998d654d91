"""Deep Partition Aggregation: certified against general poisoning."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BasePartitionEnsemble
from ._docstrings import shared_docs
from ._ensemble import HashPartitionMixin
from ._labels import check_minus_one_class


@shared_docs
class DPAClassifier(HashPartitionMixin, BasePartitionEnsemble):
    """Deep Partition Aggregation classifier (Levine & Feizi, ICLR 2021).

    The training set is split into ``k`` partitions by a deterministic hash of
    each sample's content; one clone of ``estimator`` is fit per partition and
    predictions are the members' vote, ties going to the smaller class index.
    Every prediction comes with a certified radius (Theorem 1): no insertion or
    removal of up to ``radius`` training samples, in any combination, can
    change it. Because the built-in hashers ignore the label, a relabelled
    sample touches one partition and counts once.

    ``spread=d`` gives finite aggregation (Wang, Levine & Feizi, ICML 2022):
    samples are hashed into ``k*d`` buckets and each of ``k*d`` members is fit
    on ``d`` buckets (still about ``n/k`` samples each); ``voting="runoff"``
    gives run-off election (Rezaei et al., ICML 2023). Both certify more from
    members of the same size; see :ref:`theory`.

    Read :ref:`theory` before relying on a certificate: preprocessing fit on the
    whole training set (a scaler placed *before* ``DPAClassifier`` in a
    Pipeline) voids the guarantee; put it inside ``estimator`` instead, where it
    is fit per partition.

    Parameters
    ----------
    estimator : object, default=None
        The base classifier, cloned once per member. ``None`` means
        :class:`~sklearn.tree.DecisionTreeClassifier`. It must be a classifier
        (a regressor is refused); members are fit on labels encoded as class
        indices ``0..n_classes_-1`` and must predict those.
    k : int, default=50
        Number of partitions (the paper's ``k``). Larger ``k`` allows larger
        radii (at most ``k // 2``) at the cost of members trained on less data.
    spread : int, default=1
        Members each sample trains (finite aggregation's ``d``): ``k*spread``
        members, fit time about ``spread`` times that of DPA. ``1`` is DPA.
    %(voting)s
    hasher : {"content", "sum"} or callable, default="content"
        How a sample's bucket is chosen (``hash(x) %% (k * spread)``), from that
        sample's values alone:

        - ``"content"``: a stable 64-bit digest of the row's values, independent
          of its position, the other rows, memory layout and process. Equal
          values hash alike whatever the dtype (``3`` and ``3.0``); float32 and
          float64 copies of fractional data are different numbers and land in
          different buckets.
        - ``"sum"``: the paper's sum of values (integer pixels sum exactly as in
          the reference code; fractional values in fixed point).
        - callable ``X -> (n_samples,)`` non-negative integers; it must depend
          on each row's content only, or the certificate is void.
    %(classes)s
    %(warm_start)s
    %(n_jobs)s
    %(random_state)s
    %(verbose)s
    %(cost_aware)s

    Attributes
    ----------
    %(fitted_common)s
    shifts_ : ndarray of shape (spread,)
        A sample in bucket ``b`` trains members ``(b + s) %% n_members_`` for
        ``s`` in ``shifts_`` (``[0]`` for DPA); derived from ``k`` and
        ``spread`` alone.
    estimators_samples_ : list of `n_members_` ndarrays
        Indices into the training data of each member's rows (buckets
        ``(j - s) %% n_members_``), in the canonical order it was fit in. For
        Dask input: positions in the collection's row order.

    See Also
    --------
    SSDPAClassifier : label-flip certificates with semi-supervised members.
    skdpa.certify : the certificates as functions of stored member outputs.

    References
    ----------
    .. [1] A. Levine and S. Feizi, "Deep Partition Aggregation: Provable Defenses
       against General Poisoning Attacks", ICLR 2021.
    .. [2] W. Wang, A. Levine and S. Feizi, "Improved Certified Defenses against
       Data Poisoning with (Deterministic) Finite Aggregation", ICML 2022.
    .. [3] K. Rezaei, K. Banihashem, A. Chegini and S. Feizi, "Run-Off Election:
       Improved Provable Defense against Data Poisoning Attacks", ICML 2023.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdpa import DPAClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DPAClassifier(k=10, classes=range(10)).fit(X[:1500], y[:1500])
    >>> y_pred, radius = clf.predict_certified(X[1500:])
    >>> bool(radius.max() <= clf.certificate_.max_radius)
    True
    >>> int(clf.vote_counts(X[1500:1501]).sum())
    10
    >>> fa = DPAClassifier(k=10, spread=4, classes=range(10)).fit(X[:1500], y[:1500])
    >>> fa.n_members_, len(fa.shifts_)
    (40, 4)
    """

    _parameter_constraints: dict = {
        **BasePartitionEnsemble._parameter_constraints,
        "spread": [Interval(Integral, 1, None, closed="left")],
        "hasher": [StrOptions({"content", "sum"}), callable],
    }

    _threat_model = "inserting, removing or relabelling (in any combination)"
    _attack_unit = "training samples inserted, removed or relabelled"

    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        spread=1,
        voting="plurality",
        hasher="content",
        classes=None,
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        cost_aware=False,
    ):
        super().__init__(
            estimator=estimator,
            k=k,
            voting=voting,
            classes=classes,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            cost_aware=cost_aware,
        )
        self.spread = spread
        self.hasher = hasher

    def _check_y(self, y):
        y, unlabeled = super()._check_y(y)
        check_minus_one_class(y, type(self).__name__)
        return y, unlabeled

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
            Bucket of each sample, in ``[0, k * spread)``; for DPA
            (``spread=1``) its partition.

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa import DPAClassifier
        >>> X = np.array([[1.0, 2.0], [1, 2], [3, 4]])
        >>> p = DPAClassifier(k=7).assign_partitions(X)
        >>> bool(p[0] == p[1]), bool(0 <= p.min() and p.max() < 7)
        (True, True)
        """
        return self._assign_partitions(X)
