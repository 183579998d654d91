"""Docstring fragments shared by the estimators (substituted with ``%(name)s``)."""

_SHARED = {
    "voting": """voting : {"plurality", "runoff"}, default="plurality"
        How members' outputs become a prediction and its certificate:

        - ``"plurality"``: each member votes its ``predict``; the most votes
          win, ties going to the class that comes first in ``classes_``.
        - ``"runoff"``: run-off election (Rezaei et al., ICML 2023) over
          ``member_scores``: the two classes most members rank first meet in
          a second round that every member votes in by its scores. Often
          certifies more from the same members, with no retraining.""",
    "classes": """classes : array-like of shape (n_classes,), default=None
        The label set. Given: labels are encoded against it (a label outside
        it raises at fit), ``classes_`` equals it even when a class has no
        sample, and a tie goes to the class listed first; needed for members
        with positional outputs (torch/skorch nets), whose outputs would
        shift with the label set. ``None``: ``np.unique(y)``; the radius then
        also covers an attacker adding a new label (which would win every
        tie) or removing every sample of a class, for members whose
        outputs do not depend on the labels' integer codes.""",
    "warm_start": """warm_start : bool, default=False
        When fitting again, refit only the members whose training input
        changed (their rows by content, labels, sample-aligned fit
        parameters, seed) and keep the others as the same objects; a change
        of any other parameter refits all. The result equals a fresh fit on
        the same data, bit for bit (certified unlearning); ``refitted_``
        says which members were fit. No copy of the data is kept, only a
        fingerprint per member.""",
    "n_jobs": """n_jobs : int, default=None
        Members fitted (and predicted) in parallel through joblib. ``None``
        means 1 unless in a :func:`joblib.parallel_config` context; ``-1``
        uses all processors. Any joblib backend works (e.g. ``"dask"``).
        Each member runs with one BLAS/OpenMP/torch thread by default (see
        :func:`skdpa.config_context`): the parallelism is across members.""",
    "random_state": """random_state : int, RandomState instance or None, default=None
        Seeds the members: member ``j`` gets a seed derived from
        ``(random_state, j)``, applied to every ``random_state`` parameter of
        its clone (and to torch's generators in the process that fits it).
        An int gives the same members at every fit. ``None`` uses ``j``
        itself, also reproducible. A RandomState instance is drawn from at
        each fit, so successive fits differ (as scikit-learn documents
        it). The global RNG is never used.""",
    "verbose": """verbose : int, default=0
        Show a progress bar over all members while fitting; it stays on
        screen after the fit. ``tqdm`` draws it when installed; otherwise a
        line on stderr about every tenth of the members says how many are
        done and the time so far.""",
    "cost_aware": """cost_aware : bool, default=False
        Certify from what it costs to turn each member rather than one
        poisoned sample per member (issue 17): every certificate
        (``predict_certified``, ``certificate_report``, ``certificate_``)
        comes from :func:`skdpa.certify.cost_certify` over the members'
        lower bounds (:mod:`skdpa.member_costs`: insertions/removals for
        DPA, label flips for SS-DPA), and is never below the plain one.
        ``predict`` and the vote counts do not change, and neither does the
        fit: ``set_params(cost_aware=...)`` needs no refit. Needs members
        that offer costs (e.g. :class:`~sklearn.neighbors.KNeighborsClassifier`;
        otherwise a TypeError naming the member type),
        ``voting="plurality"`` and, for DPA, ``spread=1`` (the other rules
        are not covered: a ValueError). See :ref:`cost_aware`.""",
    "fitted_common": """classes_ : ndarray of shape (`n_classes_`,)
        Class labels (``classes`` when given).
    n_classes_ : int
        Number of classes.
    n_members_ : int
        Number of members.
    estimator_ : estimator
        The base estimator the members were cloned from.
    estimators_ : list of length `n_members_`
        Fitted members. A member whose rows hold a single class is a
        :class:`~sklearn.dummy.DummyClassifier` voting that class (the base
        estimator is not called); one with no rows is ``None`` and abstains,
        as is a k-nearest-neighbours member (alone or last in a pipeline)
        fit on fewer rows than its ``n_neighbors``, which cannot predict.
    partition_sizes_ : ndarray of shape (`n_members_`,)
        Number of labeled training samples each member was fit on.
    refitted_ : ndarray of shape (`n_members_`,), dtype bool
        Members (re)built by the last ``fit``: all of them unless
        ``warm_start`` kept some.
    score_method_ : {"predict_proba", "decision_function", "predict"}
        Where ``member_scores`` come from (``"predict"``: one-hot).
    certificate_ : Certificate
        What a radius counts; ``print(est.certificate_)`` states the rule,
        the threat model, the label-set assumption and the largest radius.
    n_features_in_ : int
        Number of features seen during fit (not set for text input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X was a DataFrame.""",
}


def shared_docs(obj):
    """Fill ``%(name)s`` fragments of ``obj.__doc__`` from the shared set."""
    if obj.__doc__:
        obj.__doc__ = obj.__doc__ % _SHARED
    return obj
