"""Test helpers shared by the test modules (one place, imported as ``helpers``).

Fixtures are in ``conftest.py``.
"""

import functools

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.linear_model import Ridge


@functools.cache
def digits_arrays():
    """scikit-learn's digits ``(X, y)``, loaded once and read-only.

    Shared by every module through the ``digits`` fixture, which hands out
    copies; a test that wrote to these arrays would change the others' data.
    """
    X, y = load_digits(return_X_y=True)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def runner_up(votes, c):
    """The rival that needs the fewest extra votes to beat class index ``c``."""
    score = np.asarray(votes) + (np.arange(len(votes)) < c)  # ties: smaller index
    score[c] = -1
    return int(np.argmax(score))


def near_copies_in(clf, x, members, rng, n_candidates=20000, scale=1e-7):
    """One near-copy of ``x`` per requested bucket, found with assign_partitions."""
    candidates = x + rng.normal(scale=scale, size=(n_candidates, len(x)))
    where = clf.assign_partitions(candidates)
    picked = []
    for p in members:
        hits = np.flatnonzero(where == p)
        assert hits.size, f"no candidate landed in bucket {p}"
        picked.append(candidates[hits[0]])
    return np.array(picked).reshape(-1, len(x))


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Records what fit received; predicts the majority class of its fit."""

    def fit(self, X, y, sample_weight=None):
        self.X_seen_ = np.asarray(X)
        self.y_seen_ = np.asarray(y)
        self.sample_weight_seen_ = sample_weight
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class PositionalCentroids(ClassifierMixin, BaseEstimator):
    """A member whose outputs depend on the integer codes of the labels, like a
    torch net's logits: class code ``c`` owns a seeded random offset, so the
    same rows with re-indexed labels give another model."""

    def __init__(self, n_classes=3, random_state=None):
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        rng = np.random.RandomState(self.random_state)
        offsets = rng.normal(scale=3.0, size=(self.n_classes, X.shape[1]))
        self.centroids_ = np.array(
            [
                X[y == c].mean(axis=0) if np.any(y == c) else np.full(X.shape[1], 1e9)
                for c in range(self.n_classes)
            ]
        )
        self.centroids_ += offsets
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        d = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)


class DiesOnceTree(ClassifierMixin, BaseEstimator):
    """A decision tree whose first fit in a Dask worker kills that worker.

    The first call that finds no file at ``marker`` creates it and ends its
    process at once (``os._exit``), as a lost machine would; every later fit
    is a plain seeded decision tree.
    """

    def __init__(self, marker=None, random_state=None):
        self.marker = marker
        self.random_state = random_state

    def fit(self, X, y):
        import os

        from sklearn.tree import DecisionTreeClassifier

        if self.marker is not None:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)
        self.tree_ = DecisionTreeClassifier(
            max_features=0.5, random_state=self.random_state
        ).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X):
        return self.tree_.predict(X)

    def predict_proba(self, X):
        return self.tree_.predict_proba(X)


class FailsOnRows(ClassifierMixin, BaseEstimator):
    """Fits like a stump, but raises when fit on more than ``max_rows`` rows."""

    def __init__(self, max_rows=10**9):
        self.max_rows = max_rows

    def fit(self, X, y):
        if len(X) > self.max_rows:
            raise RuntimeError(f"refusing {len(X)} rows")
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class MissingTargetRidge(Ridge):
    """Ridge that takes NaN (missing) targets: fit on the rows that have one.
    Records how many rows it was given. For ``SSDPARegressor(pass_unlabeled=
    True)``, behind steps that learn from every row."""

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        self.n_rows_seen_ = X.shape[0]
        known = ~np.isnan(y)
        return super().fit(X[known], y[known])


class CentredRidge(MissingTargetRidge):
    """Uses every row it is given: centres X on all rows (with a target or
    not), then fits ridge on the rows that have a target."""

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self.centre_ = X.mean(axis=0)
        return super().fit(X - self.centre_, y)

    def predict(self, X):
        return super().predict(np.asarray(X, dtype=float) - self.centre_)


def check_ssdpa_flip_radius(est, X, y, queries, member_vote, refit):
    """Brute force for a cost-aware SS-DPA certificate on two classes.

    ``est``: the fitted cost-aware ``SSDPAClassifier`` (``classes=[0, 1]``,
    ``pass_unlabeled=True``); ``member_vote(y_member)``: what the ensemble
    makes of a member fit on labels ``y_member`` (``-1`` elsewhere): its
    votes on ``queries``, ``-1`` abstaining; ``refit(y)``: a plain ensemble
    of the same parameters fit on ``(X, y)``. Every set of label edits (to
    0, 1 or -1) inside each partition up to the largest radius + 1 is tried
    per member, then every combination of member votes: nothing within the
    radius moves a prediction, and where an attack of radius + 1 exists,
    refitting the whole ensemble on it moves the prediction.
    """
    import itertools

    y_pred, radius = est.predict_certified(queries)
    n, k = len(y), est.n_members_
    # each row's partition, found black-box: a labelled row is in its member's
    # samples; an unlabeled row joins the samples of its member once labelled
    owner = np.full(n, -1)
    for j, rows in enumerate(est.estimators_samples_):
        owner[rows] = j
    for i in np.flatnonzero(owner < 0):
        labelled = y.copy()
        labelled[i] = 0
        probe = refit(labelled)
        owner[i] = next(
            j for j, rows in enumerate(probe.estimators_samples_) if i in rows
        )
    # fewest edits inside each partition that reach each member vote
    budget = int(radius.max()) + 1
    n_out = 3  # classes 0, 1, abstain (-1 -> index 2)
    cheapest = np.full((k, len(queries), n_out), np.inf)
    attack = {}
    for j in range(k):
        own = np.flatnonzero(owner == j)
        hidden = np.where(owner == j, y, -1)
        for t in range(budget + 1):
            for rows in itertools.combinations(own, t):
                choices = [[v for v in (-1, 0, 1) if v != y[r]] for r in rows]
                for labels in itertools.product(*choices):
                    edited = hidden.copy()
                    edited[list(rows)] = labels
                    for i, o in enumerate(member_vote(edited)):
                        if t < cheapest[j, i, o]:
                            cheapest[j, i, o] = t
                            attack[j, i, o] = dict(zip(rows, labels, strict=True))
    # the cheapest combination of member votes that changes each winner (the
    # plurality of the votes, ties to the smaller class)
    moved_at = np.full(len(queries), np.inf)
    best = [None] * len(queries)
    for i in range(len(queries)):
        for outs in itertools.product(range(n_out), repeat=k):
            cost = sum(cheapest[j, i, o] for j, o in enumerate(outs))
            votes = np.array([o for o in outs if o < 2], dtype=np.int64)
            winner = int(np.argmax(np.bincount(votes, minlength=2)))
            if winner != y_pred[i] and cost < moved_at[i]:
                moved_at[i], best[i] = cost, outs
    assert (moved_at > radius).all()
    tight = np.flatnonzero(moved_at == radius + 1)
    assert len(tight)
    for i in tight:
        poisoned = y.copy()
        for j, o in enumerate(best[i]):
            for row, label in attack.get((j, i, o), {}).items():
                poisoned[row] = label
        assert (poisoned != y).sum() == radius[i] + 1
        assert refit(poisoned).predict(queries[i : i + 1])[0] != y_pred[i]


def fewest_label_edits(outputs, y, n_queries, n_classes, editable, max_edits):
    """Brute force over label edits: per query row and output (a class index,
    or ``n_classes`` for abstaining), the fewest edits found that reach it
    (``inf``: none within ``max_edits``). Each edit sets an editable row's
    label to another class or to ``-1``; ``outputs(y)`` refits and returns
    the outputs on the queries."""
    import itertools

    rows = np.arange(n_queries)
    out = np.full((n_queries, n_classes + 1), np.inf)
    out[rows, outputs(y)] = 0
    for t in range(1, max_edits + 1):
        for chosen in itertools.combinations(np.flatnonzero(editable), t):
            options = [[v for v in range(-1, n_classes) if v != y[j]] for j in chosen]
            for new in itertools.product(*options):
                y2 = y.copy()
                y2[list(chosen)] = new
                got = outputs(y2)
                out[rows, got] = np.minimum(out[rows, got], t)
    return out


def assert_costs_sound(costs, reached):
    """No output is reached below its cost; one zero per row, at the output."""
    below = np.argwhere(reached < costs)
    assert len(below) == 0, f"reached below cost at (row, output) {below.tolist()}"
    assert (np.sum(costs == 0, axis=1) == 1).all()
    assert (costs[reached == 0] == 0).all()


def soft_spreading(**params):
    """A small ``KNNLabelSpreading(vote="soft")`` for brute-force cost tests."""
    from skdpa.semi_supervised import KNNLabelSpreading

    defaults = {"n_neighbors": 3, "metric": "euclidean", "vote": "soft"}
    return KNNLabelSpreading(**(defaults | {"max_iter": 5} | params))


def spreading_outputs(X, y, queries, n_classes, params):
    """The refit member's outputs; n_classes (abstain) when no label is left."""
    if not (y >= 0).any():
        return np.full(len(queries), n_classes)
    return soft_spreading(**params).fit(X, y).predict(queries)


def spreading_reached(X, y, queries, n_classes, editable, params, max_edits=3):
    """Fewest label edits found that reach each output of a refit
    :func:`soft_spreading` member (inf: none within ``max_edits``)."""
    return fewest_label_edits(
        lambda y2: spreading_outputs(X, y2, queries, n_classes, params),
        y,
        len(queries),
        n_classes,
        editable,
        max_edits,
    )


def check_spreading_costs_on_random_graph(seed, n, k, steps, alpha, **params):
    """:func:`soft_spreading`'s ``flip_costs`` on a random small case (rows,
    labels with unlabeled ones, four queries and the editable rows drawn from
    ``seed``) are sound against every set of up to three label edits."""
    from skdpa.member_costs import flip_costs

    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 2)).round(2)
    y = rng.randint(-1, 2, size=n)
    y[rng.randint(n)] = rng.randint(2)
    queries = np.concatenate([X[:2], rng.uniform(size=(2, 2)).round(2)])
    editable = rng.rand(n) < 0.6
    editable[:2] = True
    params = {"n_neighbors": k, "max_iter": steps, "alpha": alpha} | params
    member = soft_spreading(**params).fit(X, y)
    costs = flip_costs(member, queries, 3, editable=editable)
    assert_costs_sound(costs, spreading_reached(X, y, queries, 3, editable, params))


def check_costs_per_query_and_round_trip(member, queries):
    """A fitted member's ``flip_costs`` of a query depend neither on the
    other queries of its batch nor on a pickle round trip (graph caches
    cleared in between)."""
    import pickle

    from skdpa.semi_supervised import clear_graph_cache

    costs = member.flip_costs(queries, 3)
    clear_graph_cache()
    part = member.flip_costs(queries[2:5], 3)
    np.testing.assert_array_equal(part, costs[2:5])
    loaded = pickle.loads(pickle.dumps(member))
    clear_graph_cache()
    np.testing.assert_array_equal(loaded.predict(queries), member.predict(queries))
    np.testing.assert_array_equal(loaded.flip_costs(queries, 3), costs)
