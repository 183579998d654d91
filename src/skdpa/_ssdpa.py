"""Semi-Supervised DPA: certified against label flips."""

import numbers
import warnings

import numpy as np
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._base import BasePartitionEnsemble
from ._docstrings import shared_docs
from ._ensemble import EmbeddingPartitionMixin


@shared_docs
class SSDPAClassifier(EmbeddingPartitionMixin, BasePartitionEnsemble):
    """Semi-Supervised Deep Partition Aggregation (Levine & Feizi, ICLR 2021).

    Certifies each prediction against label flips (Theorem 2). The samples are
    trusted, their labels are not: all samples, labeled or not, are put in a
    canonical order of their content alone and sample number ``i`` joins
    partition ``i %% k``; an unlabeled sample keeps its slot and trains no
    member. A label flip touches exactly one member. Identical samples share a
    partition whatever their labels (the paper's appendix G), so any change to
    the labels of a group of duplicates counts as one flip.

    What counts as a flip: changing the label of a sample to another class
    (with ``classes=None`` to any label), to unlabeled (``y == -1``) or from
    unlabeled to a class, with either ``partitioning``: no such change moves
    another sample. Partitions hold equal numbers of samples (up to one, and up
    to duplicate groups); their numbers of labeled samples vary with where the
    unlabeled ones fall. Inserting or removing samples is not covered.

    Unlabeled rows are marked ``y == -1`` (scikit-learn's semi-supervised
    convention). With string labels use an object array holding ``-1`` for
    them, e.g. ``np.array(["cat", -1, "dog"], dtype=object)``; binary labels
    must not be coded ``-1``/``+1`` (that reads as one class plus unlabeled
    rows, and warns).

    Members use all unlabeled data in one of two ways:

    - ``embedding``: an unsupervised transformer (PCA, a self-supervised torch
      encoder, ...) cloned and fit **once** on every sample without labels;
      members are fit on the embedded rows of their partition and predict on
      embedded inputs. Cost: one embedding fit plus ``k`` small fits.
    - ``pass_unlabeled=True``: each member is a semi-supervised estimator
      (e.g. :class:`~sklearn.semi_supervised.SelfTrainingClassifier`) fit on
      all samples, with the labels of its own partition and ``-1`` elsewhere.
      Cost: ``k`` fits on the whole data set.

    Parameters
    ----------
    estimator : object, default=None
        Base classifier cloned once per partition; ``None`` means
        :class:`~sklearn.tree.DecisionTreeClassifier`. It must be a classifier;
        members are fit on labels encoded as class indices
        ``0..n_classes_-1`` (and ``-1`` for unlabeled rows with
        ``pass_unlabeled=True``) and must predict those.
    k : int, default=50
        Number of partitions.
    embedding : transformer, default=None
        Unsupervised transformer fit once on all samples (labels never reach
        it). ``None``: members see the raw features.
    pass_unlabeled : bool, default=False
        Fit every member on all samples, labels hidden (``-1``) outside its
        partition. For semi-supervised base estimators.
    partitioning : {"sorted", "hash"}, default="sorted"
        ``"sorted"``: the paper's sorted-index partitioning over all samples
        (equal sizes, counting unlabeled samples).
        ``"hash"``: the content hash of :class:`DPAClassifier` (appendix E),
        which does not depend on the other samples.
    %(voting)s
    %(classes)s
    %(warm_start)s
        A refit keeps the fitted embedding (and so every member whose labels
        did not change) when the samples are unchanged; new or removed
        samples refit the embedding and so every member, and with
        ``partitioning="sorted"`` they also shift later samples' partitions.
    %(n_jobs)s
    %(random_state)s
        The embedding is seeded from ``random_state`` alone.
    %(verbose)s
    %(cost_aware)s

    Attributes
    ----------
    %(fitted_common)s
    embedding_ : transformer
        The fitted embedding (only when ``embedding`` is given).
    shifts_ : ndarray of shape (1,)
        ``[0]``: each labeled sample trains one member.
    estimators_samples_ : list of k ndarrays
        Indices of each partition's labeled training rows (its unlabeled
        samples train no member; ``partition_sizes_`` counts labeled rows).

    See Also
    --------
    DPAClassifier : certificates against insertions and removals.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skdpa import SSDPAClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SSDPAClassifier(KNeighborsClassifier(1), k=20,
    ...                       embedding=PCA(20, random_state=0))
    >>> clf = clf.fit(X[:1490], y[:1490])
    >>> y_pred, flips = clf.predict_certified(X[1490:])
    >>> int(clf.partition_sizes_.sum()), int(clf.partition_sizes_.max())
    (1490, 75)
    """

    _parameter_constraints: dict = {
        **BasePartitionEnsemble._parameter_constraints,
        "embedding": [HasMethods(["fit", "transform"]), None],
        "pass_unlabeled": ["boolean"],
        "partitioning": [StrOptions({"sorted", "hash"})],
    }

    _threat_model = "relabelling"
    _cost_kind = "flip_costs"
    _attack_unit = "training labels flipped"

    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        embedding=None,
        pass_unlabeled=False,
        partitioning="sorted",
        voting="plurality",
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
        self.embedding = embedding
        self.pass_unlabeled = pass_unlabeled
        self.partitioning = partitioning

    def _unlabeled_mask(self, y):
        y = np.asarray(y)
        if y.dtype.kind in "iuf":
            return y == -1
        if y.dtype.kind == "O":
            return np.array(
                [
                    isinstance(v, numbers.Number)
                    and not isinstance(v, bool)
                    and v == -1
                    for v in y
                ],
                dtype=bool,
            )
        return np.zeros(len(y), dtype=bool)

    def _check_y(self, y):
        y, unlabeled = super()._check_y(y)
        labels = set(np.unique(y).tolist()) if y.dtype.kind in "iuf" else None
        if labels == {-1, 1}:
            warnings.warn(
                "y holds only -1 and 1, but SSDPAClassifier reads y == -1 as "
                "'unlabeled' (scikit-learn's semi-supervised convention): this "
                "is one class plus unlabeled rows, not a binary problem. Encode "
                "binary labels as 0/1 (or strings) and mark unlabeled rows -1.",
                UserWarning,
                stacklevel=5,
            )
        if y.dtype.kind in "USO" and any(
            isinstance(v, str | bytes) and v in ("-1", b"-1") for v in y[~unlabeled]
        ):
            warnings.warn(
                "y holds the string '-1', which SSDPAClassifier trains as a class: "
                "only the integer -1 marks unlabeled rows (NumPy turns a list "
                "mixing strings and -1 into strings). Build y as an object array, "
                'e.g. np.array(["cat", -1, "dog"], dtype=object).',
                UserWarning,
                stacklevel=5,
            )
        return y, unlabeled

    def _set_fit_state(self, estimator, plan):
        super()._set_fit_state(estimator, plan)
        # for cost_aware (see _editable): the shared row order and every
        # row's partition, from the partition value, set with the rest of
        # the fitted state
        part = plan.partition
        self._editable_state = (
            None if part.owners is None else (part.shared_rows, part.owners)
        )

    def _check_cost_aware(self, estimator=None):
        super()._check_cost_aware(estimator)
        if not self.cost_aware or self.pass_unlabeled:
            return
        member = self._base_estimator() if estimator is None else estimator
        if getattr(member, "_flip_costs_need_unlabeled_rows", False):
            # its costs price edits of the rows it was fit on; without
            # pass_unlabeled a label given to (taken from) a row adds (drops)
            # a row it never saw, which can move it by any amount
            raise ValueError(
                f"cost_aware=True with {type(member).__name__} members needs "
                "pass_unlabeled=True: their flip_costs price label edits of the "
                "rows they were fit on, and without it a label given to an "
                "unlabeled row (or taken from a labelled one) adds (or removes) "
                "a row of the member's fit; got pass_unlabeled=False."
            )

    def _editable(self, j):
        """Rows member ``j`` was fit on whose labels count against its budget.

        With ``pass_unlabeled=True`` every member is fit on every row (in the
        shared canonical order), other partitions' labels hidden: the mask is
        True on the rows of member ``j``'s own partition, labeled or not.
        ``None`` otherwise (the member saw only its own rows).
        """
        state = self.__dict__.get("_editable_state")
        if not self.pass_unlabeled or state is None:
            return None
        shared, owners = state
        return owners[shared] == j

    def _check_fitted_members(self, members):
        if not self.pass_unlabeled:
            return
        for member in members:
            if -1 in getattr(member, "classes_", ()):
                raise ValueError(
                    "pass_unlabeled=True needs a semi-supervised base "
                    "estimator that treats y == -1 as unlabeled (e.g. "
                    "SelfTrainingClassifier, LabelSpreading); "
                    f"{type(member).__name__} "
                    "learned -1 as a class."
                )
