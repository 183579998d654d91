"""Member warnings are shown once each, with the number of members that raised
them, in the calling process and from worker processes; run-off warns about
one-hot member scores."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier

from skdpa import DPAClassifier, SSDPAClassifier


class _Noisy(ClassifierMixin, BaseEstimator):
    """Warns at fit (text depends on ``mod`` and on the member's data) and at
    predict; predicts the majority class of its rows."""

    def __init__(self, mod=1):
        self.mod = mod

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.label_ = self.classes_[
            np.bincount(np.searchsorted(self.classes_, y)).argmax()
        ]
        warnings.warn("noisy fit", RuntimeWarning, stacklevel=2)
        warnings.warn(
            f"rows mod {self.mod}: {len(y) % self.mod}", UserWarning, stacklevel=2
        )
        return self

    def predict(self, X):
        warnings.warn("noisy predict", UserWarning, stacklevel=2)
        return np.full(len(X), self.label_)


def _data():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400] % 3


def _record(func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func()
    return result, [(w.category, str(w.message), w.filename) for w in caught]


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_each_distinct_member_warning_is_shown_once_with_its_count(n_jobs):
    X, y = _data()
    k = 12
    clf = DPAClassifier(_Noisy(mod=2), k=k, n_jobs=n_jobs)
    _, caught = _record(lambda: clf.fit(X, y))
    fitted = int(np.count_nonzero(clf._constants < 0))
    assert fitted == k  # every partition holds three classes
    texts = [text for _, text, _ in caught]
    noisy = [t for t in texts if t.startswith("noisy fit")]
    assert noisy == [
        f"noisy fit\n[skdpa: shown once; raised by {k} of {k} members (first: "
        "member 0) while fitting.]"
    ]
    # one line per distinct text; the counts add up to the members
    sizes = clf.partition_sizes_
    counts = {}
    for t in texts:
        if t.startswith("rows mod 2"):
            head = t.split("\n")[0]
            counts[head] = int(t.split("raised by ")[1].split()[0])
    expected = {
        f"rows mod 2: {r}": int(np.count_nonzero(sizes % 2 == r))
        for r in (0, 1)
        if np.any(sizes % 2 == r)
    }
    assert counts == expected
    assert sum(counts.values()) == k
    # categories are kept; the line shown is the caller's, not the library's
    assert {c for c, t, _ in caught if t.startswith("noisy fit")} == {RuntimeWarning}
    assert all(f == __file__ for _, _, f in caught)

    _, caught = _record(lambda: clf.predict(X[:5]))
    assert [t for _, t, _ in caught] == [
        f"noisy predict\n[skdpa: shown once; raised by {k} of {k} members "
        "(first: member 0) while predicting.]"
    ]


def test_warnings_from_worker_processes_come_back():
    # loky workers: without collection these lines went to the workers' stderr
    X, y = _data()
    from joblib import parallel_config

    with parallel_config(backend="loky"):
        _, caught = _record(lambda: DPAClassifier(_Noisy(), k=6, n_jobs=2).fit(X, y))
    assert [t for _, t, _ in caught if t.startswith("noisy fit")] == [
        "noisy fit\n[skdpa: shown once; raised by 6 of 6 members (first: member "
        "0) while fitting.]"
    ]


def test_convergence_warning_once_instead_of_once_per_member():
    from sklearn.exceptions import ConvergenceWarning

    X, y = _data()
    _, caught = _record(
        lambda: DPAClassifier(LogisticRegression(max_iter=2), k=10).fit(X, y)
    )
    convergence = [t for c, t, _ in caught if c is ConvergenceWarning]
    assert len(convergence) == 1
    assert "raised by 10 of 10 members" in convergence[0]


def test_feature_name_warning_once_at_predict():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])])
    clf = DPAClassifier(GaussianNB(), k=20).fit(frame, y)
    _, caught = _record(lambda: clf.predict(X[:3]))
    names = [t for _, t, _ in caught if "feature names" in t]
    # the ensemble's own warning, and the members' once (not 20 times)
    assert len(names) == 2
    assert "raised by 20 of 20 members" in names[1]


def test_filters_still_apply_to_the_shown_warning():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="rows mod")
        with pytest.raises(RuntimeWarning, match=r"(?s)noisy fit.*raised by 4 of 4"):
            DPAClassifier(_Noisy(), k=4).fit(X, y)


def test_nan_in_y_raises_without_a_runtime_warning_first():
    X, y = _data()
    y = y.astype(float)
    y[3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="NaN"):
            DPAClassifier(k=4).fit(X, y)


# --------------------------------------------------------------------------
# Run-off with one-hot member scores
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator", [KNeighborsClassifier(1), _Noisy()], ids=["1nn", "predict-only"]
)
def test_runoff_warns_once_when_members_give_one_hot_scores(estimator):
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="noisy")
        warnings.filterwarnings("ignore", message="rows mod")
        _, caught = _record(
            lambda: DPAClassifier(estimator, k=10, voting="runoff").fit(X, y)
        )
    one_hot = [t for _, t, _ in caught if "one-hot" in t]
    assert len(one_hot) == 1
    assert one_hot[0].startswith("voting='runoff' with 10 of 10 fitted members")
    assert "Run-off needs graded scores" in one_hot[0]


def test_runoff_does_not_warn_with_graded_scores_or_under_plurality():
    X, y = load_digits(return_X_y=True)
    for clf in (
        DPAClassifier(GaussianNB(), k=10, voting="runoff"),
        DPAClassifier(
            KNeighborsClassifier(5, weights="distance"), k=10, voting="runoff"
        ),
        DPAClassifier(KNeighborsClassifier(1), k=10),
        SSDPAClassifier(LogisticRegression(max_iter=300), k=10, voting="runoff"),
    ):
        _, caught = _record(lambda clf=clf: clf.fit(X[:600], y[:600]))
        assert not [t for _, t, _ in caught if "one-hot" in t]


def test_overlapping_collections_in_threads_keep_their_own_warnings():
    """Two fits in two threads at once (a threaded search): each shows its own
    members' warning once, and the warning machinery is restored after."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = _data()
    before = (warnings.showwarning, list(warnings.filters))

    def fit(k):
        from joblib import parallel_config

        # k=5: member fits in loky processes; k=7: in threads of this process
        backend = "loky" if k == 5 else "threading"
        with parallel_config(backend=backend):
            clf = DPAClassifier(_Noisy(mod=1), k=k, n_jobs=2).fit(X, y)
            clf.predict(X[:3])
        return clf

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(fit, [5, 7, 5, 7]))
    for action in ("fit", "predict"):
        shown = sorted(
            str(w.message) for w in caught if f"noisy {action}" in str(w.message)
        )
        ing = "fitting" if action == "fit" else "predicting"
        assert shown == sorted(
            f"noisy {action}\n[skdpa: shown once; raised by {k} of {k} members "
            f"(first: member 0) while {ing}.]"
            for k in (5, 7, 5, 7)
        )
    assert (warnings.showwarning, list(warnings.filters)) == before


def test_warnings_from_dask_workers_come_back():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster
    from joblib import parallel_config

    X, y = _data()
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
        parallel_config(backend="dask"),
    ):
        _, caught = _record(lambda: DPAClassifier(_Noisy(), k=6, n_jobs=2).fit(X, y))
    assert [t for _, t, _ in caught if t.startswith("noisy fit")] == [
        "noisy fit\n[skdpa: shown once; raised by 6 of 6 members (first: member "
        "0) while fitting.]"
    ]


def test_a_collecting_thread_keeps_its_warnings_when_showwarning_is_put_back():
    """Another thread's ``catch_warnings`` exit (scikit-learn wraps every
    joblib task in one) puts back the ``showwarning`` it saw on entry, from
    before the hook: a member that warns afterwards is still collected."""
    from skdpa._warnings import MemberWarnings, _collecting, member_scope

    before = warnings.showwarning
    collector = MemberWarnings(1, "fitting")
    with _collecting(collector), member_scope(0):
        warnings.showwarning = before  # what that other thread's exit does
        warnings.warn("late", RuntimeWarning, stacklevel=1)
    assert [(r[1], r[2]) for r in collector.records] == [("late", 0)]
