"""MultiSeedClassifier: DPA* members (several seeded runs, outputs summed)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdpa import DPAClassifier, MultiSeedClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


DIGITS_SPLIT = {"scale": 16.0, "n_train": 600, "test": (600, 800)}  # conftest.py


def mlp():
    return MLPClassifier((16,), max_iter=40, learning_rate_init=0.01)


def test_runs_get_distinct_seeds_derived_from_random_state(digits):
    X, y, X_test, _ = digits
    clf = MultiSeedClassifier(mlp(), n_seeds=3, random_state=4).fit(X, y)
    assert len(set(clf.seeds_)) == 3
    inner = [run.random_state for run in clf.estimators_]
    assert len(set(inner)) == 3
    weights = [run.coefs_[0] for run in clf.estimators_]
    assert not np.allclose(weights[0], weights[1])
    again = MultiSeedClassifier(mlp(), n_seeds=3, random_state=4).fit(X, y)
    assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))
    other = MultiSeedClassifier(mlp(), n_seeds=3, random_state=5).fit(X, y)
    assert other.seeds_ != clf.seeds_
    # the inner estimator's own random_state is overridden by the run seeds
    pinned = MultiSeedClassifier(
        MLPClassifier((16,), max_iter=40, random_state=0), n_seeds=2, random_state=4
    ).fit(X, y)
    assert pinned.estimators_[0].random_state != pinned.estimators_[1].random_state


def test_none_random_state_seeds_runs_by_index(digits):
    X, y, _, _ = digits
    clf = MultiSeedClassifier(mlp(), n_seeds=3).fit(X, y)
    assert clf.seeds_ == [0, 1, 2]


@settings(max_examples=15, deadline=None)
@given(n_seeds=st.integers(1, 4), seed=st.integers(0, 2**31 - 2))
def test_log_proba_combination_is_the_sum_of_log_probabilities(digits, n_seeds, seed):
    X, y, X_test, _ = digits
    base = SGDClassifier(loss="log_loss", max_iter=5, tol=None)
    clf = MultiSeedClassifier(base, n_seeds=n_seeds, random_state=seed).fit(X, y)
    logs = sum(np.log(run.predict_proba(X_test)) for run in clf.estimators_)
    probs = sum(run.predict_proba(X_test) for run in clf.estimators_)
    assert_array_equal(clf.predict(X_test), clf.classes_[np.argmax(logs, axis=1)])
    np.testing.assert_allclose(
        np.log(clf.predict_proba(X_test)),
        logs / n_seeds - np.log(np.exp(logs / n_seeds).sum(axis=1, keepdims=True)),
        atol=1e-9,
    )
    mean = clone(clf).set_params(combine="proba").fit(X, y)
    np.testing.assert_allclose(mean.predict_proba(X_test), probs / n_seeds)


def test_log_proba_sum_picks_the_class_of_summed_logits():
    # softmax outputs: log p = z - logsumexp(z), the shift is per run and row
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50, 4)) * 3
    log_p = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    assert_array_equal(log_p.sum(0).argmax(1), logits.sum(0).argmax(1))


def test_more_seeds_help_a_noisy_member(digits):
    X, y, X_test, y_test = digits
    one = MultiSeedClassifier(mlp(), n_seeds=1, random_state=0).fit(X[:80], y[:80])
    five = MultiSeedClassifier(mlp(), n_seeds=5, random_state=0).fit(X[:80], y[:80])
    single = [np.mean(run.predict(X_test) == y_test) for run in five.estimators_]
    assert np.mean(five.predict(X_test) == y_test) >= np.mean(single)
    assert np.mean(five.predict(X_test) == y_test) >= np.mean(
        one.predict(X_test) == y_test
    )


def test_dpa_star_members_are_a_function_of_their_partition(digits):
    X, y, X_test, _ = digits
    member = MultiSeedClassifier(make_pipeline(StandardScaler(), mlp()), n_seeds=2)
    clf = DPAClassifier(member, k=4, random_state=0).fit(X, y)
    seeds = [m.random_state for m in clf.estimators_]
    assert len(set(seeds)) == 4  # the ensemble seeds every member
    perm = np.random.default_rng(0).permutation(len(X))
    other = DPAClassifier(member, k=4, random_state=0, n_jobs=2).fit(X[perm], y[perm])
    assert_array_equal(other.vote_counts(X_test), clf.vote_counts(X_test))
    # refitting one member on its stored partition reproduces it
    i = 2
    rows = clf.estimators_samples_[i]
    refit = clone(member).set_params(random_state=clf.estimators_[i].random_state)
    refit.fit(X[rows], np.searchsorted(clf.classes_, y[rows]))
    assert_array_equal(
        refit.predict_proba(X_test), clf.estimators_[i].predict_proba(X_test)
    )


def test_columns_follow_the_runs_classes(digits):
    X, y, X_test, _ = digits
    keep = np.isin(y, [2, 5, 8])
    clf = MultiSeedClassifier(LogisticRegression(max_iter=200), n_seeds=2)
    clf.fit(X[keep], y[keep])
    assert_array_equal(clf.classes_, [2, 5, 8])
    assert set(np.unique(clf.predict(X_test))) <= {2, 5, 8}


def test_errors_name_parameter_and_value(digits):
    X, y, _, _ = digits
    with pytest.raises(InvalidParameterError, match=r"'n_seeds' .* Got 0"):
        MultiSeedClassifier(mlp(), n_seeds=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match=r"'combine' .* Got 'logits'"):
        MultiSeedClassifier(mlp(), combine="logits").fit(X, y)
    with pytest.raises(
        InvalidParameterError, match=r"'estimator' parameter .*'predict_proba'"
    ):
        MultiSeedClassifier(SGDClassifier()).fit(X, y)


@parametrize_with_checks(
    [MultiSeedClassifier(DecisionTreeClassifier(), n_seeds=2, random_state=0)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_docstring_examples():
    import doctest

    import skdpa._multi_seed as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
