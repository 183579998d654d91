"""Living with a fitted ensemble: exact warm-start refits, member outputs,
vote fractions, persistence, metadata routing, the thread policy."""

import numpy as np
import pytest
from helpers import SpyClassifier
from numpy.testing import assert_array_equal
from sklearn import config_context as sklearn_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info

import skdpa
from skdpa import DPAClassifier, SSDPAClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600], X[1500:1600]


def _random_trees(**kw):
    # random members: a wrong seed, row order or reuse shows in the votes
    return DPAClassifier(DecisionTreeClassifier(max_features=0.3), random_state=0, **kw)


# -- warm start --------------------------------------------------------------


def _edits(X, y):
    """Poisoning-style edits of a training set: (name, X', y')."""
    rng = np.random.RandomState(0)
    rows = rng.permutation(len(X))
    yield "remove 6 rows", np.delete(X, rows[:6], axis=0), np.delete(y, rows[:6])
    extra = X[rows[:4]] + 0.5
    yield (
        "insert 4 rows",
        np.vstack([X, extra]),
        np.concatenate([y, (y[rows[:4]] + 1) % 10]),
    )
    flipped = y.copy()
    flipped[rows[:5]] = (flipped[rows[:5]] + 3) % 10
    yield "relabel 5 rows", X, flipped
    yield (
        "duplicate 3 rows",
        np.vstack([X, X[rows[:3]]]),
        np.concatenate([y, y[rows[:3]]]),
    )
    shuffled = rng.permutation(len(X))
    yield "shuffle", X[shuffled], y[shuffled]


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("spread", [1, 3])
def test_warm_refit_equals_a_cold_fit_and_keeps_untouched_members(
    digits, n_jobs, spread
):
    X, y, X_test = digits
    for name, X2, y2 in _edits(X, y):
        warm = _random_trees(k=12, spread=spread, warm_start=True, n_jobs=n_jobs)
        warm.fit(X, y)
        before = list(warm.estimators_)
        warm.fit(X2, y2)
        cold = _random_trees(k=12, spread=spread, n_jobs=n_jobs).fit(X2, y2)
        assert_array_equal(
            warm.member_predictions(X_test), cold.member_predictions(X_test), name
        )
        assert_array_equal(
            warm.predict_certified(X_test)[1], cold.predict_certified(X_test)[1]
        )
        for j, refit in enumerate(warm.refitted_):
            if not refit:
                assert warm.estimators_[j] is before[j], (name, j)
        if name == "shuffle":
            assert not warm.refitted_.any()
        else:
            # a few rows touch a few buckets, each feeding `spread` members
            assert 0 < warm.refitted_.sum() <= 6 * spread, name


def test_warm_refit_of_identical_data_fits_nothing(digits):
    X, y, _ = digits
    clf = _random_trees(k=10, warm_start=True).fit(X, y)
    assert clf.refitted_.all()  # the first fit fits every member
    clf.fit(X.copy(), y.copy())
    assert not clf.refitted_.any()
    # without warm_start every member is refit
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.refitted_.all()


@pytest.mark.parametrize(
    "change",
    [
        {"estimator": DecisionTreeClassifier(max_features=0.5)},
        {"random_state": 1},
        {"hasher": "sum"},
        {"classes": np.arange(10)},
        {"k": 11},
    ],
)
def test_a_parameter_change_refits_every_member(digits, change):
    X, y, X_test = digits
    clf = _random_trees(k=10, warm_start=True).fit(X, y)
    clf.set_params(**change).fit(X, y)
    assert clf.refitted_.all()
    cold = clone(clf).set_params(warm_start=False).fit(X, y)
    assert_array_equal(clf.member_predictions(X_test), cold.member_predictions(X_test))


def test_voting_and_n_jobs_do_not_refit(digits):
    X, y, _ = digits
    clf = _random_trees(k=10, warm_start=True).fit(X, y)
    clf.set_params(voting="runoff", n_jobs=2).fit(X, y)
    assert not clf.refitted_.any()
    assert clf.certificate_.rule == "runoff"


def test_sample_weight_change_refits_only_its_members(digits):
    X, y, _ = digits
    w = np.ones(len(y))
    clf = DPAClassifier(SpyClassifier(), k=8, warm_start=True).fit(
        X, y, sample_weight=w
    )
    w2 = w.copy()
    w2[0] = 2.0
    clf.fit(X, y, sample_weight=w2)
    assert_array_equal(np.flatnonzero(clf.refitted_), clf.assign_partitions(X[:1]))


def test_ssdpa_hash_partitions_keep_changes_local_and_the_embedding(digits):
    X, y, X_test = digits
    make = SSDPAClassifier(
        KNeighborsClassifier(1),
        k=10,
        embedding=PCA(5, random_state=0),
        partitioning="hash",
        warm_start=True,
    )
    clf = clone(make).fit(X, y)
    embedding = clf.embedding_
    flipped = y.copy()
    flipped[0] = (flipped[0] + 1) % 10
    clf.fit(X, flipped)
    assert clf.embedding_ is embedding  # labels never reach the embedding
    assert clf.refitted_.sum() == 1
    cold = clone(make).set_params(warm_start=False).fit(X, flipped)
    assert_array_equal(clf.member_predictions(X_test), cold.member_predictions(X_test))
    # a new sample refits the embedding, whose output every member sees
    clf.fit(np.vstack([X, X[:1] + 1]), np.concatenate([y, y[:1]]))
    assert clf.embedding_ is not embedding and clf.refitted_.all()


def test_ssdpa_sorted_partitions_shift_after_a_removal(digits):
    X, y, _ = digits
    clf = SSDPAClassifier(KNeighborsClassifier(1), k=10, warm_start=True).fit(X, y)
    clf.fit(X[1:], y[1:])
    # sorted-index partitioning: every later sample moves to the next partition
    assert clf.refitted_.sum() >= 8


# -- member outputs, vote fractions ---------------------------------------------


def test_member_outputs_and_votes_agree(digits):
    X, y, X_test = digits
    clf = DPAClassifier(LogisticRegression(max_iter=200), k=8).fit(X[:300], y[:300])
    preds = clf.member_predictions(X_test)
    scores = clf.member_scores(X_test)
    assert preds.shape == (100, 8) and scores.shape == (100, 8, 10)
    assert clf.score_method_ == "predict_proba"
    votes = clf.vote_counts(X_test)
    for c in range(10):
        assert_array_equal(votes[:, c], (preds == c).sum(axis=1))
    # LogisticRegression predicts the argmax of its probabilities
    assert_array_equal(np.argmax(scores, axis=2), preds)
    proba = clf.predict_proba(X_test)
    assert_array_equal(proba, votes / 8)
    assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X_test))


def test_members_that_missed_classes_score_them_minus_inf():
    X = np.arange(40, dtype=float).reshape(-1, 1)
    y = np.repeat([0, 1, 2, 3], 10)
    clf = DPAClassifier(LinearSVC(), k=3, classes=[0, 1, 2, 3]).fit(X, y)
    assert clf.score_method_ == "decision_function"
    scores = clf.member_scores(X)
    for j, rows in enumerate(clf.estimators_samples_):
        missing = np.setdiff1d(np.arange(4), np.unique(y[rows]))
        assert np.isneginf(scores[:, j, missing]).all()


def test_abstaining_members_are_minus_one_and_nan():
    X = np.arange(6, dtype=float).reshape(-1, 1)
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(UserWarning, match="get no sample"):
        clf = DPAClassifier(SpyClassifier(), k=20).fit(X, y)
    empty = clf.partition_sizes_ == 0
    preds, scores = clf.member_predictions(X), clf.member_scores(X)
    assert (preds[:, empty] == -1).all() and (preds[:, ~empty] >= 0).all()
    assert np.isnan(scores[:, empty]).all() and not np.isnan(scores[:, ~empty]).any()
    assert clf.score_method_ == "predict"
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


# -- persistence ----------------------------------------------------------------


@pytest.mark.parametrize("Est", [DPAClassifier, SSDPAClassifier])
def test_skops_round_trip_trusts_only_skdpa_types(digits, Est):
    sio = pytest.importorskip("skops.io")
    X, y, X_test = digits
    params = {"embedding": PCA(5, random_state=0)} if Est is SSDPAClassifier else {}
    clf = Est(LogisticRegression(max_iter=300), k=6, random_state=0, **params)
    clf.fit(X, y)
    blob = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=blob)
    assert untrusted and all(t.startswith("skdpa.") for t in untrusted), untrusted
    restored = sio.loads(blob, trusted=untrusted)
    for a, b in zip(
        restored.predict_certified(X_test), clf.predict_certified(X_test), strict=True
    ):
        assert_array_equal(a, b)
    assert restored.certificate_ == clf.certificate_


# -- metadata routing -------------------------------------------------------------


def test_metadata_routing_slices_requested_weights(digits):
    X, y, _ = digits
    w = np.linspace(0.5, 2.0, len(y))

    class Weighted(SpyClassifier):
        pass

    with sklearn_config(enable_metadata_routing=True):
        member = Weighted().set_fit_request(sample_weight=True)
        clf = DPAClassifier(member, k=5).fit(X, y, sample_weight=w)
        for rows, m in zip(clf.estimators_samples_, clf.estimators_, strict=True):
            assert_array_equal(m.sample_weight_seen_, w[rows])
        routing = clf.get_metadata_routing()
        assert "sample_weight" in str(routing)
        # not requested: refused before any member is fit
        with pytest.raises(Exception, match="sample_weight"):
            DPAClassifier(Weighted(), k=5).fit(X, y, sample_weight=w)


# -- threads -----------------------------------------------------------------


class ThreadSpy(SpyClassifier):
    """Records the BLAS thread counts threadpoolctl reports inside fit."""

    def fit(self, X, y, sample_weight=None):
        self.threads_ = [i["num_threads"] for i in threadpool_info()]
        return super().fit(X, y)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_members_fit_with_one_blas_thread_by_default(digits, n_jobs):
    X, y, _ = digits
    clf = DPAClassifier(ThreadSpy(), k=4, n_jobs=n_jobs).fit(X, y)
    for member in clf.estimators_:
        assert member.threads_ and set(member.threads_) == {1}


def test_member_threads_can_be_lifted(digits):
    X, y, _ = digits
    default = max(i["num_threads"] for i in threadpool_info())
    with skdpa.config_context(member_threads=None):
        clf = DPAClassifier(ThreadSpy(), k=2).fit(X, y)
    assert max(clf.estimators_[0].threads_) == default
    with pytest.raises(ValueError, match="member_threads must be None or an int"):
        skdpa.set_config(member_threads=0)


class Unseeded(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_random_state_instance_draws_new_seeds_each_fit(digits):
    X, y, X_test = digits
    rs = np.random.RandomState(0)
    clf = DPAClassifier(DecisionTreeClassifier(max_features=0.3), k=5, random_state=rs)
    a = clf.fit(X, y).member_predictions(X_test)
    b = clf.fit(X, y).member_predictions(X_test)
    assert not np.array_equal(a, b)  # as scikit-learn documents RandomState
    c = clf.set_params(random_state=3).fit(X, y).member_predictions(X_test)
    assert_array_equal(c, clf.fit(X, y).member_predictions(X_test))


def test_the_core_reaches_torch_only_for_torch_members(tmp_path):
    """A scikit-learn member takes the plain path even when torch is loaded."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = (
        "import sys, torch\n"
        "from sklearn.datasets import load_iris\n"
        "from skdpa import DPAClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "DPAClassifier(k=5, n_jobs=1).fit(X, y).predict(X)\n"
        "print('skdpa.torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_involves_torch_sees_modules_inside_pipelines():
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetClassifier

    from skdpa._members import involves_torch

    net = NeuralNetClassifier(torch.nn.Linear, module__in_features=2)
    assert involves_torch(make_pipeline(StandardScaler(), net))
    assert involves_torch(net)
    assert not involves_torch(make_pipeline(StandardScaler(), LogisticRegression()))


@pytest.mark.parametrize("voting", ["plurality", "runoff"])
@pytest.mark.parametrize("classes", [None, list(range(10))])
@pytest.mark.parametrize("spread", [1, 2])
def test_every_method_agrees_on_the_winner(digits, voting, classes, spread):
    """predict, predict_certified, the report and the stored-output functions
    of skdpa.certify name the same winner, ties included (1-NN scores tie)."""
    X, y, X_test = digits
    clf = DPAClassifier(
        KNeighborsClassifier(1), k=9, spread=spread, voting=voting, classes=classes
    ).fit(X, y)
    y_pred = clf.predict(X_test)
    certified, radius = clf.predict_certified(X_test)
    assert_array_equal(certified, y_pred)
    report = clf.certificate_report(X_test)
    assert_array_equal(report.y_pred, y_pred)
    assert_array_equal(report.radius, radius)
    assert (radius <= clf.certificate_.max_radius).all()
    shifts = None if spread == 1 else clf.shifts_
    if voting == "runoff":
        winner = skdpa.certify.runoff_winner(clf.member_scores(X_test))
    else:
        winner = skdpa.certify.plurality_winner(clf.member_predictions(X_test), 10)
    assert_array_equal(clf.classes_[winner], y_pred)
    if classes is not None:  # no extra rival: the stored-output certificate
        if voting == "runoff":
            _, r = skdpa.certify.runoff_certify(clf.member_scores(X_test), shifts)
        else:
            _, r = skdpa.certify.plurality_certify(
                clf.member_predictions(X_test), 10, shifts
            )
        assert_array_equal(r, radius)
    np.testing.assert_allclose(clf.predict_proba(X_test).sum(axis=1), 1.0)
