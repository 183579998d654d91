"""DPAClassifier: API, inputs, determinism rules, errors."""

import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from helpers import SpyClassifier
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from skdpa import DPAClassifier, certified_radius


def _random_members(k=20, **kw):
    # random members: a wrong seed or row order would show in the votes
    return DPAClassifier(
        DecisionTreeClassifier(max_features=0.3), k=k, random_state=0, **kw
    )


class FailingClassifier(SpyClassifier):
    def fit(self, X, y, sample_weight=None):
        if len(X) % 2:  # fails on some partitions only: a mid-fit failure
            raise RuntimeError("member exploded")
        return super().fit(X, y)


def test_fit_predict_shapes_and_certificate(digits):
    X, y, X_test, y_test = digits
    clf = DPAClassifier(k=10).fit(X, y)
    assert isinstance(clf.estimator_, DecisionTreeClassifier)
    assert len(clf.estimators_) == len(clf.estimators_samples_) == 10
    assert clf.partition_sizes_.sum() == len(X)
    assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_classes_ == 10 and clf.n_features_in_ == 64
    votes = clf.vote_counts(X_test)
    assert votes.shape == (len(X_test), 10) and votes.dtype == np.int64
    assert (votes.sum(axis=1) == 10).all()
    y_pred, radius = clf.predict_certified(X_test)
    assert_array_equal(y_pred, clf.predict(X_test))
    # classes inferred from y: a new label that sorts first is an empty rival
    # that wins every tie
    empty_first = np.column_stack([np.zeros(len(votes), dtype=int), votes])
    assert_array_equal(radius, certified_radius(empty_first))
    assert (radius >= 0).all() and radius.max() <= 4
    assert (y_pred == y_test).mean() > 0.7
    text = str(clf.certificate_)
    assert "inserting, removing or relabelling" in text
    assert "k=10" in text and "largest reachable radius 4" in text
    assert "inferred" in text
    assert clf.certificate_.max_radius == 4
    # a fixed label set: Theorem 1 as stated, against the classes only
    fixed = DPAClassifier(k=10, classes=np.arange(10)).fit(X, y)
    assert_array_equal(fixed.vote_counts(X_test), votes)
    assert_array_equal(fixed.predict_certified(X_test)[1], certified_radius(votes))
    assert fixed.certificate_.max_radius == 5
    assert "given classes" in str(fixed.certificate_)


def test_partitions_follow_assign_partitions(digits):
    X, y, _, _ = digits
    clf = DPAClassifier(k=13).fit(X, y)
    where = clf.assign_partitions(X)
    for i, rows in enumerate(clf.estimators_samples_):
        assert (where[rows] == i).all()
    # needs no fit, and agrees with the fitted estimator
    assert_array_equal(DPAClassifier(k=13).assign_partitions(X), where)


def test_members_are_fit_on_their_partition_in_canonical_order(digits):
    X, y, _, _ = digits
    clf = DPAClassifier(SpyClassifier(), k=7).fit(X, y)
    for rows, member in zip(clf.estimators_samples_, clf.estimators_, strict=True):
        assert_array_equal(member.X_seen_, X[rows])
        assert_array_equal(member.y_seen_, y[rows])  # labels encoded 0..9


def test_refitting_a_member_on_its_samples_reproduces_it(digits):
    X, y, X_test, _ = digits
    clf = _random_members().fit(X, y)
    for i in (0, 7, 19):
        member = clf.estimators_[i]
        again = clone(member).fit(
            X[clf.estimators_samples_[i]], y[clf.estimators_samples_[i]]
        )
        assert_array_equal(again.predict(X_test), member.predict(X_test))


def test_shuffling_rows_gives_identical_votes(digits):
    X, y, X_test, _ = digits
    perm = np.random.default_rng(0).permutation(len(X))
    a = _random_members().fit(X, y)
    b = _random_members().fit(X[perm], y[perm])
    assert_array_equal(a.vote_counts(X_test), b.vote_counts(X_test))
    for ra, rb in zip(a.estimators_samples_, b.estimators_samples_, strict=True):
        assert_array_equal(ra, perm[rb])  # same rows, same canonical order


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(np.int64),
        lambda X: np.asfortranarray(X),
        lambda X: X.astype(np.float32),
        lambda X: pd.DataFrame(X),
    ],
)
def test_equal_values_in_other_dtypes_and_layouts_give_identical_votes(digits, convert):
    X, y, X_test, _ = digits
    a = _random_members().fit(X, y)
    b = _random_members().fit(convert(X), y)
    assert_array_equal(a.vote_counts(X_test), b.vote_counts(X_test))


def test_n_jobs_does_not_change_votes(digits):
    X, y, X_test, _ = digits
    a = _random_members(n_jobs=1).fit(X, y)
    b = _random_members(n_jobs=2).fit(X, y)
    assert_array_equal(a.vote_counts(X_test), b.vote_counts(X_test))


def test_separate_processes_give_identical_partitions_and_votes(digits, tmp_path):
    X, y, X_test, _ = digits
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X_test)
    code = (
        "import sys, numpy as np\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "from skdpa import DPAClassifier\n"
        "d = np.load(sys.argv[1])\n"
        "clf = DPAClassifier(DecisionTreeClassifier(max_features=0.3), k=20,"
        " random_state=0).fit(d['X'], d['y'])\n"
        "np.savez(sys.argv[2], p=clf.assign_partitions(d['X']),"
        " v=clf.vote_counts(d['X_test']))\n"
    )
    out = tmp_path / "out.npz"
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "d.npz"), str(out)],
        check=True,
        env={"PYTHONHASHSEED": "99", "PATH": ""},
    )
    there = np.load(out)
    here = _random_members().fit(X, y)
    assert_array_equal(there["p"], here.assign_partitions(X))
    assert_array_equal(there["v"], here.vote_counts(X_test))


def test_dask_backend_gives_the_same_votes(digits):
    distributed = pytest.importorskip("distributed")
    X, y, X_test, _ = digits
    local = _random_members().fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            remote = _random_members(n_jobs=-1).fit(X, y)
    assert_array_equal(local.vote_counts(X_test), remote.vote_counts(X_test))


def test_member_seeds(digits):
    X, y, _, _ = digits
    tree = DecisionTreeClassifier(max_features=0.3)
    none = DPAClassifier(tree, k=5).fit(X, y)
    # random_state=None: member i is seeded from its partition index i
    expected = [
        np.random.RandomState(i).randint(np.iinfo(np.int32).max) for i in range(5)
    ]
    assert [m.random_state for m in none.estimators_] == expected
    a = DPAClassifier(tree, k=5, random_state=1).fit(X, y)
    b = DPAClassifier(tree, k=5, random_state=2).fit(X, y)
    seeds_a = [m.random_state for m in a.estimators_]
    assert len(set(seeds_a)) == 5
    assert seeds_a != [m.random_state for m in b.estimators_]
    # the global RNG is neither used nor disturbed
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    DPAClassifier(tree, k=5).fit(X, y)
    assert np.random.random() == before


def test_degenerate_partitions():
    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 0, 0, 1, 1, 1])
    clf = DPAClassifier(SpyClassifier(), k=40).fit(X, y)
    sizes = clf.partition_sizes_
    assert (sizes == 0).sum() >= 34
    for member, size in zip(clf.estimators_, sizes, strict=True):
        if size == 0:
            assert member is None  # abstains
        else:  # one sample per partition: one class, no base estimator fit
            assert isinstance(member, DummyClassifier)
    votes = clf.vote_counts(X)
    assert (votes.sum(axis=1) == (sizes > 0).sum()).all()
    assert clf.certificate_.n_voting == (sizes > 0).sum()
    assert clf.certificate_.max_radius == ((sizes > 0).sum() - 1) // 2


def test_string_labels_and_one_class():
    X, y = make_classification(n_samples=200, random_state=0)
    labels = np.array(["spam", "ham"])[y]
    clf = DPAClassifier(k=5).fit(X, labels)
    assert set(clf.predict(X)) <= {"ham", "spam"}
    assert_array_equal(clf.classes_, ["ham", "spam"])
    with pytest.raises(ValueError, match="at least 2 classes.*1 class: 'ham'"):
        DPAClassifier(LogisticRegression(), k=5).fit(X, np.full(200, "ham"))


def test_dataframe_keeps_feature_names():
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = DPAClassifier(k=5).fit(frame, y)
    assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    assert_array_equal(clf.predict(frame), DPAClassifier(k=5).fit(X, y).predict(X))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X)


def test_mixed_dataframe_reaches_members_as_a_frame():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"num": rng.normal(size=120), "cat": rng.choice(["a", "b", "c"], 120)}
    )
    y = (frame["num"] > 0).astype(int).to_numpy()
    member = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["cat"]), remainder="passthrough"),
        LogisticRegression(),
    )
    clf = DPAClassifier(member, k=3).fit(frame, y)
    assert (clf.predict(frame) == y).mean() > 0.9
    perm = rng.permutation(120)
    shuffled = DPAClassifier(member, k=3).fit(frame.iloc[perm], y[perm])
    assert_array_equal(shuffled.vote_counts(frame), clf.vote_counts(frame))


def test_sparse_input_gives_the_same_votes_as_dense(digits):
    X, y, X_test, _ = digits
    member = make_pipeline(StandardScaler(with_mean=False), LogisticRegression())
    dense = DPAClassifier(member, k=5).fit(X, y)
    sparse = DPAClassifier(member, k=5).fit(sp.csr_matrix(X), y)
    assert_array_equal(
        dense.assign_partitions(X), sparse.assign_partitions(sp.csr_matrix(X))
    )
    assert_array_equal(
        dense.vote_counts(X_test), sparse.vote_counts(sp.csr_matrix(X_test))
    )


def test_text_pipeline():
    spam = ["win money now", "cheap pills offer", "win a prize now", "free money"]
    ham = ["lunch at noon", "meeting notes attached", "see you at lunch", "notes"]
    texts = [f"{t} {i}" for i in range(15) for t in spam + ham]
    labels = ["spam"] * 4 + ["ham"] * 4
    y = labels * 15
    member = make_pipeline(TfidfVectorizer(), LogisticRegression())
    clf = DPAClassifier(member, k=3).fit(texts, y)
    assert not hasattr(clf, "n_features_in_")
    assert list(clf.predict(["win money", "lunch notes"])) == ["spam", "ham"]
    y_pred, radius = clf.predict_certified(["free prize money"])
    assert y_pred[0] == "spam" and radius[0] >= 0
    with pytest.raises(ValueError, match="fitted on a 1-D sequence of strings"):
        clf.predict(np.zeros((2, 3)))


def test_sample_weight_is_routed_with_its_rows(digits):
    X, y, _, _ = digits
    w = np.arange(len(y), dtype=float)
    clf = DPAClassifier(SpyClassifier(), k=6).fit(X, y, sample_weight=w)
    for rows, member in zip(clf.estimators_samples_, clf.estimators_, strict=True):
        assert_array_equal(member.sample_weight_seen_, w[rows])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(900,\)"):
        DPAClassifier(SpyClassifier(), k=6).fit(X, y, sample_weight=w[:5])


def test_callable_hasher():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20) % 2
    clf = DPAClassifier(SpyClassifier(), k=4, hasher=lambda X: X[:, 0].astype(int))
    clf.fit(X, y)
    assert_array_equal(clf.assign_partitions(X), X[:, 0].astype(int) % 4)
    bad = DPAClassifier(k=4, hasher=lambda X: -np.ones(len(X)))
    with pytest.raises(ValueError, match="non-negative integers; got a minimum of -1"):
        bad.fit(X, y)
    bad = DPAClassifier(k=4, hasher=lambda X: np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(20,\) .*got shape \(3,\)"):
        bad.fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"k": 0},
            r"The 'k' parameter of DPAClassifier must be an int in the range "
            r"\[1, inf\)\. Got 0 instead\.",
        ),
        ({"k": 2.5}, r"The 'k' parameter of DPAClassifier must be an int .*2\.5"),
        (
            {"hasher": "md5"},
            r"The 'hasher' parameter of DPAClassifier must be .* Got 'md5'",
        ),
        ({"estimator": object()}, r"The 'estimator' parameter .* Got <object"),
        ({"n_jobs": "two"}, r"The 'n_jobs' parameter .* Got 'two'"),
    ],
)
def test_bad_parameters(params, match):
    X, y = make_classification(n_samples=30, random_state=0)
    with pytest.raises(InvalidParameterError, match=match):
        DPAClassifier(**params).fit(X, y)


def test_bad_inputs():
    X, y = make_classification(n_samples=30, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        DPAClassifier(k=3).fit(X, y[:-1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        DPAClassifier(LogisticRegression(), k=3).fit(X_nan, y)
    with pytest.raises(NotFittedError):
        DPAClassifier(k=3).predict(X)
    with pytest.raises(NotFittedError):
        DPAClassifier(k=3).predict_certified(X)
    clf = DPAClassifier(k=3).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 3 features, but DPAClassifier is expecting 4"
    ):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="Unknown label type"):
        DPAClassifier(k=3).fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="requires y to be passed"):
        DPAClassifier(k=3).fit(X, None)


def test_nan_tolerant_member_accepts_nan():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    X[::7, 1] = np.nan
    clf = DPAClassifier(HistGradientBoostingClassifier(max_iter=5), k=3).fit(X, y)
    assert clf.predict(X).shape == (120,)


def test_failed_fit_leaves_nothing_half_fitted(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(FailingClassifier(), k=8)
    with pytest.raises(RuntimeError, match="member exploded"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert not [a for a in vars(clf) if a.endswith("_")]
    # a fitted estimator whose refit fails keeps its previous, complete state
    clf.set_params(estimator=SpyClassifier())
    clf.fit(X, y)
    votes = clf.vote_counts(X_test)
    clf.set_params(estimator=FailingClassifier())
    with pytest.raises(RuntimeError):
        clf.fit(X[:500], y[:500])
    assert_array_equal(clf.vote_counts(X_test), votes)
    assert clf.partition_sizes_.sum() == len(X)


def test_pipeline_grid_search_cross_val_clone_pickle(digits):
    X, y, X_test, _ = digits
    member = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    search = GridSearchCV(
        DPAClassifier(member, k=5),
        {"k": [3, 6], "estimator__logisticregression__C": [0.1, 1.0]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["k"] in (3, 6)
    assert search.best_estimator_.k == search.best_params_["k"]
    scores = cross_val_score(DPAClassifier(k=5), X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.5).all()
    clf = search.best_estimator_
    twin = clone(clf)
    assert twin.get_params()["k"] == clf.k and not hasattr(twin, "estimators_")
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.vote_counts(X_test), clf.vote_counts(X_test))
    assert str(restored.certificate_) == str(clf.certificate_)


def test_verbose_shows_a_progress_bar(digits, capsys):
    pytest.importorskip("tqdm")
    X, y, _, _ = digits
    DPAClassifier(k=6, verbose=1).fit(X, y)
    err = capsys.readouterr().err
    assert "DPAClassifier fit" in err and "member" in err


def test_member_depends_only_on_its_partition(digits):
    """Rule 1: changing one training row changes one member, no other."""
    X, y, X_test, _ = digits
    clf = _random_members().fit(X, y)
    X2 = X.copy()
    X2[0] = X2[0][::-1]  # new content: may move to another partition
    other = _random_members().fit(X2, y)
    touched = {
        int(clf.assign_partitions(X[:1])[0]),
        int(other.assign_partitions(X2[:1])[0]),
    }
    for i in range(clf.k):
        if i in touched:
            continue
        assert_array_equal(
            clf.estimators_[i].predict(X_test), other.estimators_[i].predict(X_test)
        )
