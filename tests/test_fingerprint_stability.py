"""Warm start across versions: the member fingerprints of fixed fits, pinned.

A fitted estimator warm-started on a later version reuses a member only if the
new fingerprint equals the stored one, so a refactor that changes how a
fingerprint is computed silently refits everything. The digests below were
computed with scikit-dpa 0.3.0; a change to them must be deliberate (and
said in the CHANGELOG).
"""

import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import SelfTrainingClassifier

from skdpa import DPAClassifier, DPARegressor, SSDPAClassifier, SSDPARegressor


def _digest(fingerprints):
    return hashlib.blake2b(b"".join(fingerprints), digest_size=8).hexdigest()


def _iris(unlabeled=False):
    X, y = load_iris(return_X_y=True)
    if unlabeled:
        y = y.copy()
        y[::3] = -1
    return X, y


def _diabetes(missing=False):
    X, y = load_diabetes(return_X_y=True)
    if missing:
        y = y.copy()
        y[::3] = np.nan
    return X, y


CASES = {
    "dpa": (lambda: DPAClassifier(k=7, random_state=0), _iris, {}, "4738a1702adaeb00"),
    "dpa_spread_weights": (
        lambda: DPAClassifier(k=7, spread=3),
        _iris,
        {"sample_weight": np.linspace(0.5, 2, 150)},
        "e4d4596f9479e899",
    ),
    "ssdpa_pass_unlabeled": (
        lambda: SSDPAClassifier(
            SelfTrainingClassifier(LogisticRegression()), k=4, pass_unlabeled=True
        ),
        lambda: _iris(unlabeled=True),
        {},
        "e081c9f5d39e9940",
    ),
    "ssdpa_hash_embedding": (
        lambda: SSDPAClassifier(k=6, partitioning="hash", embedding=PCA(2)),
        lambda: _iris(unlabeled=True),
        {},
        "e6b3b61fa02d79b2",
    ),
    "dpa_regressor": (
        lambda: DPARegressor(k=9, spread=2, random_state=1),
        _diabetes,
        {"sample_weight": np.linspace(0.5, 2, 442)},
        "39a0a1ade003a64a",
    ),
    "ssdpa_regressor": (
        lambda: SSDPARegressor(k=8, embedding=PCA(3)),
        lambda: _diabetes(missing=True),
        {},
        "47ebfc1326fb707c",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fingerprints_match_0_3(name):
    make, data, params, expected = CASES[name]
    X, y = data()
    est = make().fit(X, y, **params)
    assert _digest(est._fingerprints) == expected


def test_a_changed_target_changes_the_digest():
    # the pin has teeth: one target nudged below an integer step moves it
    X, y = _diabetes()
    y = y.copy()
    y[0] += 0.25
    est = DPARegressor(k=9, spread=2, random_state=1).fit(
        X, y, sample_weight=np.linspace(0.5, 2, 442)
    )
    assert _digest(est._fingerprints) != CASES["dpa_regressor"][3]
