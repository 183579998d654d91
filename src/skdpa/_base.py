"""Shared ensemble machinery for the partition-aggregation classifiers.

Data flows one way (the fit flow is :class:`~skdpa._ensemble.PartitionEnsemble`'s,
shared with the regressors): validate -> encode labels -> partition (a
:class:`~skdpa._partition.Partition` value from the subclass) -> fit plan
(:mod:`skdpa._plan`: rows, seeds, kinds, fingerprints per member) -> diff
against the last fit (warm start) -> engine (:mod:`skdpa._engine`, joblib)
builds what changed from a row source -> fitted state set once. Prediction:
member outputs -> the vote rule object (:mod:`skdpa._rules`) -> winner, votes,
certificate. The certificate maths lives in :mod:`skdpa.certify`.
"""

import warnings
from abc import abstractmethod
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import (
    ClassifierMixin,
    _fit_context,
    is_classifier,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import (
    StrOptions,
)
from sklearn.utils._tags import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    column_or_1d,
)

from . import member_costs
from ._cost_rule import CostRule
from ._dask import is_dask_collection
from ._ensemble import (
    _CHUNK_ITEMS,
    PartitionEnsemble,
    _is_frame,
    checked_once,
    in_chunks,
    restored_on_error,
)
from ._hashing import (
    combine_lossy_facts,
    lossy_integer_facts,
    take_rows,
    warn_lossy_integers,
)
from ._labels import check_label_kinds
from ._members import (
    involves_torch,
    num_rows,
    score_method,
)
from ._report import CertificateReport
from ._rules import RULES, make_rule
from ._warnings import _user_stacklevel, warn_one_hot_runoff

# ---------------------------------------------------------------------------
# Certificates


def _rule_title(rule):
    return RULES[rule].title if rule in RULES else rule


@dataclass(frozen=True)
class Certificate:
    """What a certified radius counts, for one fitted ensemble.

    ``str(certificate)`` is a sentence that states the rule, the threat model
    and what is assumed about the label set.

    Attributes
    ----------
    threat_model : str
        What the attacker may do to at most ``radius`` training samples.
    k : int
        Number of partitions.
    n_voting : int
        Members that vote (fit on a non-empty partition); the others abstain.
    max_radius : int
        Largest radius any prediction can reach (a unanimous vote).
    rule : {"plurality", "runoff"}
        The vote the prediction and its certificate come from.
    spread : int
        Members each training sample trains (finite aggregation's ``d``;
        1 for DPA).
    n_members : int
        Number of members, ``k * spread``.
    label_set : {"given", "inferred"}
        ``"given"``: labels are encoded against ``classes`` and a label outside
        it cannot be trained on. ``"inferred"``: ``classes_`` came from ``y``;
        the radius also holds against inserted samples carrying a new label
        (an empty rival that wins every tie) and against the removal of every
        sample of a class, for members whose outputs do not depend on the
        integer codes of the labels (scikit-learn classifiers; torch/skorch
        nets with positional logits need ``classes``).
    attack_unit : str
        What one unit of radius is, for axis labels.
    cost_aware : bool
        Whether radii count what it costs to turn each member
        (``cost_aware=True``) rather than one sample per member.
    """

    threat_model: str
    k: int
    n_voting: int
    max_radius: int
    rule: str = "plurality"
    spread: int = 1
    n_members: int = None
    label_set: str = "inferred"
    attack_unit: str = "training samples"
    cost_aware: bool = False

    def __str__(self):
        members = self.k if self.n_members is None else self.n_members
        layout = f"k={self.k} partitions"
        if self.spread > 1:
            layout += f", spread {self.spread} ({members} members)"
        text = (
            f"{_rule_title(self.rule)} certificate: a prediction "
            f"with radius r cannot be changed by {self.threat_model} at most r "
            f"training samples ({layout}, {self.n_voting} voting; largest "
            f"reachable radius {self.max_radius}). "
        )
        if self.cost_aware:
            text += (
                "Member-aware: each member's change is priced by its own "
                "lower bound on the poisoned samples of its partition needed "
                "to turn it (cost_aware=True). "
            )
        if self.threat_model == "relabelling":
            text += (
                "A label changed to, from or between classes and unlabeled "
                "(-1) counts as one flip; the samples themselves are trusted. "
            )
        if self.label_set == "given":
            text += "Labels are encoded against the given classes."
        else:
            if self.threat_model == "relabelling":
                changes = (
                    "flips to a new label and flips that leave a class without samples"
                )
            else:
                changes = (
                    "samples added with a new label and the removal of every "
                    "sample of a class"
                )
            text += (
                f"Labels inferred from y: the radius also covers {changes}, for "
                "members whose outputs do not depend on the integer codes of "
                "the labels (scikit-learn classifiers); pass classes= for "
                "members with positional outputs such as torch nets."
            )
        return text


# ---------------------------------------------------------------------------
# Member costs


def offers_costs(estimator, kind):
    """Whether members cloned from ``estimator`` state their ``kind`` costs."""
    return callable(getattr(estimator, kind, None)) or isinstance(
        estimator, KNeighborsClassifier
    )


def _new_label_costs(member, kind, costs):
    """Lower bounds on turning a member to an attacker's new label.

    The member was asked for class index ``n_classes_`` (after every known
    class, so it loses ties); the new label's real code may come first (it
    then wins ties). For a k-nearest-neighbour vote one more replaced
    neighbour settles any tie the target won from the first position: once
    the target's count reaches every rival's, one more vote makes it strictly
    largest, so the cost from the first position is at least the cost from
    the last minus one. Other members' costs are not proven to move by at
    most one with the label's position: they are priced at one sample (any
    change needs one), unless the member's type says its costs count a tie
    as reached whichever class the tie would go to (``_costs_count_ties``):
    then the cost it states for the index after every class holds for the
    new label at any position. Never below 1: no member outputs a label it
    never saw.
    """
    if getattr(member, "_costs_count_ties", False) and callable(
        getattr(member, kind, None)
    ):
        return np.maximum(costs, 1)
    if isinstance(member, KNeighborsClassifier) and not callable(
        getattr(member, kind, None)
    ):
        return np.maximum(costs - 1, 1)
    return np.ones_like(costs)


# ---------------------------------------------------------------------------
# The estimator


class BasePartitionEnsemble(ClassifierMixin, PartitionEnsemble):
    """Machinery shared by :class:`DPAClassifier` and :class:`SSDPAClassifier`.

    Not part of the public API. A subclass implements ``_partition`` (which
    rows each member owns, as a :class:`~skdpa._partition.Partition` value) and
    may override ``_fit_inputs`` and ``_predict_inputs`` (what the members
    see); validation, the fit plan and the engine are shared with the
    regressors (:class:`~skdpa._ensemble.PartitionEnsemble`); label encoding
    and the vote rule are the classifiers' own.
    """

    _parameter_constraints: dict = {
        **PartitionEnsemble._parameter_constraints,
        "voting": [StrOptions({"plurality", "runoff"})],
        "classes": ["array-like", None],
        "cost_aware": ["boolean"],
    }

    _threat_model = "changes"
    _attack_unit = "training samples"
    # member_costs dispatch of this threat model ("poison_costs", "flip_costs")
    _cost_kind = "poison_costs"

    @abstractmethod
    def __init__(
        self,
        estimator=None,
        k=50,
        *,
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
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.voting = voting
        self.classes = classes
        self.cost_aware = cost_aware

    # -- hooks ---------------------------------------------------------------

    def _editable(self, j):
        """Hook: mask over the rows member ``j`` was fit on, True where a
        poisoned sample counts against it; ``None``: all of them."""
        return None

    # -- helpers -------------------------------------------------------------

    def _base_estimator(self):
        return DecisionTreeClassifier() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

    def _unlabeled_mask(self, y):
        """Rows without a label. DPA has none; SS-DPA marks them with -1."""
        return np.zeros(len(y), dtype=bool)

    def _check_y(self, y):
        y = column_or_1d(y, warn=True)
        if y.dtype.kind == "f" and np.isnan(y).any():
            # before scikit-learn's target check, whose cast to int warns
            # "invalid value encountered in cast" ahead of its own error
            first = int(np.flatnonzero(np.isnan(y))[0])
            raise ValueError(
                f"Input y contains NaN (first at row {first}); every sample needs "
                "a class label (SSDPAClassifier marks unlabeled samples -1)."
            )
        unlabeled = self._unlabeled_mask(y)
        check_classification_targets(y[~unlabeled])
        return y, unlabeled

    def _encode_labels(self, y, labeled):
        """(classes_, class index of every row; -1 for unlabeled rows)."""
        name = type(self).__name__
        y_lab = y[labeled]
        if self.classes is None:
            classes, codes = np.unique(y_lab, return_inverse=True)
        else:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or len(classes) < 2:
                raise ValueError(
                    "classes must be a 1-D array-like of at least 2 labels; got "
                    f"{self.classes!r}."
                )
            check_label_kinds(self.classes, y_lab)
            if len(np.unique(classes)) != len(classes):
                raise ValueError(f"classes must not repeat a label; got {classes!r}.")
            if np.any(self._unlabeled_mask(classes)):
                raise ValueError(
                    f"classes must not contain -1: it marks unlabeled rows in {name}."
                )
            index = {}
            for i, c in enumerate(classes.tolist()):
                index.setdefault(c, i)
            codes = np.array([index.get(v, -1) for v in y_lab.tolist()], dtype=np.int64)
            if (codes < 0).any():
                unknown = np.unique(np.asarray(y_lab)[codes < 0].astype(str))
                raise ValueError(
                    f"y contains labels that are not in classes: "
                    f"{unknown[:5].tolist()} (classes={classes.tolist()}). Every "
                    "label must be one of the given classes."
                )
        present = np.unique(codes)
        # with the label set given, data of one class is a data set like any
        # other (every member votes that class): removing every sample of the
        # other classes must not make fit fail (a denial of service)
        if len(present) < (2 if self.classes is None else 1):
            raise ValueError(
                f"{name} needs samples of at least 2 classes in the data, but the "
                f"labeled data contains {len(present)} class"
                f"{'' if len(present) == 1 else 'es'}"
                + (
                    f": {np.asarray(classes)[present[0]].tolist()!r}."
                    if len(present) == 1
                    else "."
                )
            )
        y_enc = np.full(len(y), -1, dtype=np.int64)
        y_enc[labeled] = codes
        return classes, y_enc

    def _check_member(self, estimator):
        if not is_classifier(estimator):
            kind = get_tags(estimator).estimator_type
            what = f"a {kind}'s outputs" if kind else "its outputs"
            raise ValueError(
                f"The estimator of {type(self).__name__} must be a classifier "
                f"(scikit-learn's is_classifier); got {type(estimator).__name__}. "
                f"Members vote with class labels: {what} are not votes."
            )

    def _check_torch_member(self, estimator, remote=False):
        """Once per fit, for members that involve torch only: stop a fit whose
        members could not come back from worker processes (always the case
        when ``remote``: the Dask fit), and warn about what would silently go
        wrong (a skorch validation split, positional outputs without a fixed
        label set)."""
        if not involves_torch(estimator):
            return
        from .torch import check_main_objects, torch_member_warnings

        check_main_objects(estimator, n_jobs=-1 if remote else self.n_jobs)
        if not remote:  # a Dask fit's members are fit on the workers' devices
            from .torch._checks import check_devices

            check_devices(estimator)
        for message in torch_member_warnings(
            estimator, classes_given=self.classes is not None
        ):
            warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())

    # -- fit -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of the base estimator per member.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Training data. A 1-D sequence of strings is passed to the members
            as is (text pipelines); object arrays and DataFrames reach the
            members unchanged and are hashed cell by cell. A Dask DataFrame or
            2-D Dask Array is fit on the current ``distributed.Client``
            without gathering it (see :ref:`beyond_one_machine`).
        y : array-like of shape (n_samples,)
            Class labels (strings or integers); a Dask Series or Array
            partitioned like ``X`` when ``X`` is a Dask collection.
        **fit_params : dict
            Passed to every member's ``fit`` (with metadata routing enabled,
            as the base estimator requests them); sample-aligned arrays such as
            ``sample_weight`` are sliced to the member's rows. A parameter the
            base estimator's ``fit`` does not take raises before any member
            is fit.

        Returns
        -------
        self : object
            The fitted ensemble. With ``warm_start=True`` only members whose
            training input changed are refit (see ``refitted_``).
        """
        with restored_on_error(self):
            if is_dask_collection(X) or is_dask_collection(y):
                from ._dask import dask_fit

                return dask_fit(self, X, y, fit_params)
            return self._fit(X, y, fit_params)

    def _check_options(self, estimator):
        self._check_cost_aware(estimator)

    def _fit_targets(self, y, labeled):
        """(class index of every row, the same as sort key, fitted state)."""
        classes, y_enc = self._encode_labels(y, labeled)
        return y_enc, y_enc, {"classes_": classes, "n_classes_": len(classes)}

    def _check_content(self, X_content):
        warn_lossy_integers(X_content, type(self).__name__)

    def _content_facts(self, X_content):
        return lossy_integer_facts(X_content)

    def _warn_content(self, facts):
        columns = combine_lossy_facts(facts)
        # one frame deeper than here: warn_lossy_integers calls warnings.warn
        level = _user_stacklevel() + 1
        warn_lossy_integers(
            None, type(self).__name__, columns=columns, stacklevel=level
        )

    def _set_fit_state(self, estimator, plan):
        self.score_method_ = score_method(estimator)
        self._constants = plan.constants

    def _after_fit(self, X_members, n_samples):
        if self.voting == "runoff":
            self._check_graded_scores(X_members, n_samples)

    def _check_graded_scores(self, X_members, n_samples):
        """Warn when run-off members rank only their top class (on up to 64
        training rows): run-off then certifies less than plurality."""
        rows = np.arange(min(n_samples, 64))
        sample = self._predict_inputs(take_rows(X_members, rows))
        called = (self._constants < 0) & (self.partition_sizes_ > 0)
        warn_one_hot_runoff(self._outputs(sample, "scores"), called, self.score_method_)

    def _dask_method(self, X, method):
        """Lazy output of a predict-like method on a Dask collection."""
        from ._dask import dask_method

        return dask_method(self, X, method)

    @property
    def certificate_(self):
        """What a radius counts (see :class:`Certificate`); follows ``cost_aware``."""
        # "certificate_": how ensembles saved before cost_aware stored it
        certificate = self.__dict__.get(
            "_certificate", self.__dict__.get("certificate_")
        )
        if certificate is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'certificate_' before fit."
            )
        if not self.cost_aware:
            return certificate
        # a member-aware certificate only where one can be computed (the
        # same refusals as predict_certified: run-off, spread, member types)
        self._check_cost_aware(self._fitted_base())
        return replace(certificate, cost_aware=True, max_radius=self._max_cost_radius())

    @certificate_.setter
    def certificate_(self, value):
        self.__dict__["_certificate"] = value

    def _max_cost_radius(self):
        # removing (DPA) or unlabelling (SS-DPA) every labeled training sample
        # and adding one of a rival changes any vote: no radius reaches that
        return int(np.sum(self.partition_sizes_))

    def _check_cost_aware(self, estimator=None):
        """Refuse ``cost_aware=True`` where its maths does not reach.

        Called at fit (with the base estimator: a member type without costs
        fails before ``k`` fits) and at every certificate (after
        ``set_params(cost_aware=True)`` on a fitted ensemble).
        """
        if not self.cost_aware:
            return
        if self.voting != "plurality":
            raise ValueError(
                "cost_aware=True certifies voting='plurality' only; got "
                f"voting={self.voting!r}: run-off with member costs is not proven. "
                "Use voting='plurality' or cost_aware=False."
            )
        spread = self._n_spread()
        if spread != 1:
            raise ValueError(
                "cost_aware=True certifies DPA (spread=1) only; got "
                f"spread={spread}: finite aggregation with member costs is not "
                "proven. Use spread=1 or cost_aware=False."
            )
        if estimator is not None and not offers_costs(estimator, self._cost_kind):
            raise TypeError(
                f"cost_aware=True needs members that state what it costs to turn "
                f"them ({self._cost_kind}); {type(estimator).__name__} offers none. "
                "Use a member with costs (see skdpa.member_costs, e.g. "
                "KNeighborsClassifier) or cost_aware=False."
            )
        check = getattr(estimator, "_check_cost_params", None)
        if estimator is not None and callable(check):
            # a member type with costs whose parameters may rule them out
            # (label spreading: vote="soft" only): say so at fit
            check(self._cost_kind)
        if (
            isinstance(estimator, KNeighborsClassifier)
            and not callable(getattr(estimator, self._cost_kind, None))
            and estimator.weights != "uniform"
        ):
            # knn_costs would refuse it at the first certificate: say so at fit
            raise ValueError(
                "cost_aware=True prices KNeighborsClassifier members with "
                "weights='uniform' only (one poisoned sample at a query outweighs "
                f"every other neighbour otherwise); got weights={estimator.weights!r}."
            )

    def _rule(self):
        """The vote rule object of ``voting`` for this fitted ensemble."""
        if self.cost_aware:
            self._check_cost_aware()
            return CostRule(
                self.n_classes_,
                new_label=self.classes is None,
                max_radius=self._max_cost_radius(),
            )
        return self._plain_rule()

    def _plain_rule(self):
        """The rule of ``voting`` alone, one poisoned sample per member."""
        return make_rule(
            self.voting,
            self.n_classes_,
            self.shifts_,
            new_label=self.classes is None,
            unseen_score=0.0 if self.score_method_ == "predict" else -np.inf,
        )

    def _make_certificate(self):
        voting = self.partition_sizes_ > 0
        return Certificate(
            threat_model=self._threat_model,
            k=self.k,
            n_voting=int(np.count_nonzero(voting)),
            max_radius=self._plain_rule().max_radius(voting),
            rule=self.voting,
            spread=len(self.shifts_),
            n_members=self.n_members_,
            label_set="inferred" if self.classes is None else "given",
            attack_unit=self._attack_unit,
        )

    # -- aggregation -----------------------------------------------------------

    def _outputs(self, X, kind):
        return self._member_outputs(
            X, kind, method=self.score_method_, n_classes=self.n_classes_
        )

    def _member_costs(self, X, rule):
        """Every member's costs on ``X``: (n_samples, n_members, rule.width).

        Members the engine did not fit are priced here (same bounds for both
        threat models; a poisoned sample is an insertion/removal for DPA, a
        label flip for SS-DPA):

        - empty partition (``None``, abstains): any class needs at least one
          poisoned sample in the partition (an inserted row, or a label given
          to one of its unlabeled rows); abstaining costs 0.
        - single-class partition (voting ``c`` without being called): any
          other class costs 1 (one sample makes it two-class; the base
          estimator may then output anything); abstaining needs every labeled
          row of the partition gone (removed, or unlabelled: a member fit on
          no labeled row abstains), ``partition_sizes_[j]`` samples, or for a
          k-nearest-neighbour member fewer rows than ``n_neighbors`` with two
          classes (:meth:`_single_class_abstain_cost`).

        Fitted members state their own bounds (:mod:`skdpa.member_costs`),
        computed in threads sharing memory as :meth:`_outputs` does. With a
        new label (``rule.new_label``), members are asked for one more class
        index, ``n_classes_``; see :func:`_new_label_costs`.
        """
        n = num_rows(X)
        n_classes = self.n_classes_
        width = rule.width
        out = np.ones((n, self.n_members_, width))
        work = []
        for j, member in enumerate(self.estimators_):
            c = self._constants[j]
            if member is None:
                out[:, j, -1] = 0
            elif c >= 0:
                out[:, j, c] = 0
                out[:, j, -1] = self._single_class_abstain_cost(j)
            else:
                work.append((j, member))
        if not work:
            return out
        kind = self._cost_kind
        n_ask = n_classes + rule.new_label

        def fill(j, member):
            editable = self._editable(j)
            # the mask of the rows whose labels count against member j (only
            # for members fit on other partitions' rows; the costs lane's
            # dispatch passes it on to the member's flip_costs)
            extra = {} if editable is None else {"editable": editable}
            costs = getattr(member_costs, kind)(member, X, n_ask, **extra)
            if rule.new_label:
                costs[:, n_classes] = _new_label_costs(
                    member, kind, costs[:, n_classes]
                )
            out[:, j, :] = costs

        with checked_once(X):
            Parallel(n_jobs=self.n_jobs, require="sharedmem")(
                delayed(fill)(j, member) for j, member in work
            )
        return out

    def _fitted_base(self):
        """The base estimator the members were cloned from (the ``estimator``
        parameter may have been changed since fit)."""
        fitted = self.__dict__.get("estimator_")
        return self._base_estimator() if fitted is None else fitted

    def _single_class_abstain_cost(self, j):
        """Samples that make single-class member ``j`` abstain.

        Every labeled row gone (``partition_sizes_[j]``), or, for a
        k-nearest-neighbour member, fewer rows than ``n_neighbors`` once a
        second class has joined (it then cannot predict and abstains, see
        :func:`~skdpa._members.cannot_predict`): one sample of another class
        (an inserted row, or a label flip) and ``size - n_neighbors + 1``
        rows taken away, a lower bound for both threat models.
        """
        size = int(self.partition_sizes_[j])
        final = self._fitted_base()
        while isinstance(final, Pipeline):
            final = final.steps[-1][1]
        if isinstance(final, KNeighborsClassifier):
            return min(size, 1 + max(0, size - int(final.n_neighbors) + 1))
        return size

    def _map_chunks(self, X, func, certify=False):
        """``[func(rule, outputs) for each row chunk of X]``: the vote rule and
        the member outputs it reads (class indices, scores or costs), one
        chunk at a time (:func:`~skdpa._ensemble.in_chunks`).

        A chunk's outputs take at most ``_CHUNK_ITEMS`` array items and are
        released before the next chunk is computed, so prediction holds one
        chunk of outputs (plus the certify functions' own working arrays,
        each under ``skdpa.certify._WORK_BYTES``) whatever the number of rows.
        """
        X_in = self._member_input(X)
        # the winner and the votes never need member costs
        rule = self._rule() if certify else self._plain_rule()
        width = {"scores": self.n_classes_, "costs": getattr(rule, "width", 1)}
        if rule.output == "costs":

            def outputs(X_rows):
                return self._member_costs(X_rows, rule)

        else:

            def outputs(X_rows):
                return self._outputs(X_rows, rule.output)

        return in_chunks(
            X_in,
            self.n_members_ * width.get(rule.output, 1),
            outputs,
            lambda rows, out: func(rule, out),
            _CHUNK_ITEMS,
        )

    def certificate_report(self, X):
        """Per-sample certificate report: prediction, votes, runner-up, radii.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        report : CertificateReport
            A :class:`~sklearn.utils.Bunch` of arrays: ``y_pred``, ``radius``,
            ``runner_up``, ``targeted_radius`` (n_samples, n_classes_, plus
            one column, last, for a new label when ``classes`` is not given),
            ``votes`` (n_samples, n_classes_), ``classes`` and ``new_label``;
            ``report.to_frame()`` gives a DataFrame with one row per sample.
            ``targeted_radius[i, c]``: no attack of at most that many poisoned
            samples makes class ``c`` win at sample ``i`` (``-1`` for the
            predicted class). ``radius`` is the smallest entry over every
            rival column shown, the new label's included.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from skdpa import DPAClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = DPAClassifier(k=15, classes=[0, 1, 2], random_state=0).fit(X, y)
        >>> report = clf.certificate_report(X[:2])
        >>> report.targeted_radius.shape, report.y_pred.tolist()
        ((2, 3), [0, 0])
        >>> bool((report.radius == report.targeted_radius[:, 1:].min(axis=1)).all())
        True

        With the label set inferred from ``y``, an attacker's new label is one
        more rival, in the last column:

        >>> inferred = DPAClassifier(k=15, random_state=0).fit(X, y)
        >>> inferred.certificate_report(X[:2]).targeted_radius.shape
        (2, 4)
        """
        if is_dask_collection(X):
            return self._dask_method(X, "certificate_report")
        parts = self._map_chunks(
            X,
            lambda rule, out: (*rule.certify(out, per_class=True), rule.votes(out)),
            certify=True,
        )
        winner, radius, targeted, votes = (
            np.concatenate(column) for column in zip(*parts, strict=True)
        )
        real = targeted[:, : self.n_classes_]
        rivals = np.where(real < 0, np.iinfo(np.int64).max, real)
        runner_up = np.argmin(rivals, axis=1)
        return CertificateReport(
            y_pred=self.classes_[winner],
            radius=radius,
            runner_up=self.classes_[runner_up],
            targeted_radius=targeted,
            votes=votes,
            classes=self.classes_,
            new_label=self._rule().new_label,
            # a frame's index, so the report joins back to the rows
            index=getattr(X, "index", None) if _is_frame(X) else None,
        )

    # -- predict -------------------------------------------------------------

    def member_predictions(self, X):
        """Each member's predicted class index.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        predictions : ndarray of shape (n_samples, `n_members_`), dtype int64
            Index into ``classes_`` of each member's ``predict``; ``-1`` where a
            member abstains (its partition is empty, or too small for a
            k-nearest-neighbours member to predict). The input of
            :func:`skdpa.certify.plurality_certify`.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "member_predictions")
        return self._outputs(self._member_input(X), "predict")

    def member_scores(self, X):
        """Each member's score for every class.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples, `n_members_`, `n_classes_`)
            From the members' ``predict_proba``, else ``decision_function``,
            else one-hot predictions (``score_method_`` says which). A class
            a member never saw scores ``-inf`` (one-hot: ``0``); rows of an
            abstaining member are NaN. A member prefers class ``a`` to ``b`` iff
            its score of ``a`` is larger, ties going to the smaller index. The
            input of :func:`skdpa.certify.runoff_certify`.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "member_scores")
        return self._outputs(self._member_input(X), "scores")

    def vote_counts(self, X):
        """Number of members voting for each class.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        votes : ndarray of shape (n_samples, `n_classes_`), dtype int64
            Columns in ``classes_`` order. With ``voting="plurality"`` a
            member's vote is its ``predict``; with ``voting="runoff"`` its
            most preferred class by score (the first round). Abstaining members
            do not vote, so each row sums to the number of voting members.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "vote_counts")
        votes = self._map_chunks(X, lambda rule, out: rule.votes(out))
        return np.concatenate(votes)

    def predict(self, X):
        """The winner of the ensemble's vote (``voting``), ties to the smaller index.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, values from ``classes_``.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "predict")
        winner = self._map_chunks(X, lambda rule, out: rule.winner(out))
        return self.classes_[np.concatenate(winner)]

    def predict_proba(self, X):
        """Vote fractions: the share of voting members that vote for each class.

        Not a calibrated probability: it says how the members split. Under
        ``voting="plurality"`` its argmax (first on ties) is :meth:`predict`;
        under ``voting="runoff"`` it is the first round's split (each member's
        most preferred class), whose leader can lose the run-off.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, `n_classes_`)
            Columns in ``classes_`` order; rows sum to 1.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "predict_proba")
        votes = self.vote_counts(X).astype(np.float64)
        return votes / votes.sum(axis=1, keepdims=True)

    def predict_certified(self, X):
        """Predict and certify each prediction.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, as :meth:`predict` returns them.
        radius : ndarray of shape (n_samples,), dtype int64
            Certified radius of each prediction (see ``certificate_`` for what
            it counts); always ``>= 0`` and at most ``certificate_.max_radius``.
        """
        if is_dask_collection(X):
            return self._dask_method(X, "predict_certified")
        parts = self._map_chunks(X, lambda rule, out: rule.certify(out), certify=True)
        winner, radius = (np.concatenate(c) for c in zip(*parts, strict=True))
        return self.classes_[winner], radius
