"""The report, the estimator and the pure certify functions agree, whatever
the label-set assumption (issue 16: with an inferred label set the binding
rival can be a new label, which the report shows as its last column)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdpa import DPAClassifier, SSDPAClassifier, certified_radius
from skdpa.certify import plurality_certify, runoff_certify


def _min_rival(targeted):
    return np.where(targeted < 0, np.iinfo(np.int64).max, targeted).min(axis=1)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("classes", [None, [0, 1]])
@pytest.mark.parametrize("voting", ["plurality", "runoff"])
@pytest.mark.parametrize("spread", [1, 3])
def test_report_radius_is_the_minimum_over_the_rivals_shown(
    cancer, classes, voting, spread
):
    X, y = cancer
    member = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    clf = DPAClassifier(
        member, k=15, spread=spread, voting=voting, classes=classes, random_state=0
    ).fit(X, y)
    report = clf.certificate_report(X)
    n_rivals = clf.n_classes_ + (classes is None)
    assert report.targeted_radius.shape == (len(y), n_rivals)
    assert report.new_label is (classes is None)
    assert np.array_equal(report.radius, _min_rival(report.targeted_radius))
    y_pred, radius = clf.predict_certified(X)
    assert np.array_equal(report.radius, radius)
    assert np.array_equal(report.y_pred, y_pred)
    # the winner's entry is -1; every other entry >= the radius
    winner = np.searchsorted(clf.classes_, y_pred)
    assert (report.targeted_radius[np.arange(len(y)), winner] == -1).all()
    frame = report.to_frame()
    assert ("targeted_radius[<new label>]" in frame.columns) is (classes is None)


def test_new_label_binds_on_a_plain_example(cancer):
    """On breast_cancer with an inferred label set the stored-vote functions,
    called as the estimator does, reproduce predict_certified; without
    ``new_label`` they are one larger on the rows where the new label binds,
    and the docstrings say so."""
    X, y = cancer
    clf = DPAClassifier(GaussianNB(), k=20, random_state=0).fit(X, y)
    _, radius = clf.predict_certified(X)
    votes = clf.vote_counts(X)
    assert np.array_equal(certified_radius(votes, new_label=True), radius)
    preds = clf.member_predictions(X)
    _, r = plurality_certify(preds, clf.n_classes_, new_label=True)
    assert np.array_equal(r, radius)
    loose = certified_radius(votes)
    differs = loose != radius
    assert differs.any(), "the example must exercise the new-label rival"
    assert (loose[differs] == radius[differs] + 1).all()
    assert "new_label=True" in certified_radius.__doc__


@pytest.mark.parametrize(
    "member, method",
    [
        (LogisticRegression(max_iter=500), "predict_proba"),
        (KNeighborsClassifier(1), "predict_proba"),
    ],
)
def test_runoff_certify_reproduces_the_estimator(member, method):
    X, y = load_iris(return_X_y=True)
    clf = SSDPAClassifier(member, k=12, voting="runoff").fit(X, y)
    assert clf.score_method_ == method
    _, radius = clf.predict_certified(X)
    scores = clf.member_scores(X)
    _, r = runoff_certify(scores, new_label=True, unseen_score=-np.inf)
    assert np.array_equal(r, radius)


def test_runoff_one_hot_members_use_their_unseen_score():
    class Votes(KNeighborsClassifier):
        """A member without predict_proba: one-hot scores."""

        def __getattribute__(self, name):
            if name == "predict_proba":
                raise AttributeError(name)
            return super().__getattribute__(name)

    X, y = load_iris(return_X_y=True)
    clf = DPAClassifier(Votes(1), k=10, voting="runoff", random_state=0).fit(X, y)
    assert clf.score_method_ == "predict"
    _, radius = clf.predict_certified(X)
    _, r = runoff_certify(clf.member_scores(X), new_label=True, unseen_score=0.0)
    assert np.array_equal(r, radius)


def test_new_label_argument_is_checked():
    with pytest.raises(ValueError, match="new_label must be a bool; got 'yes'"):
        plurality_certify(np.zeros((1, 3), dtype=int), 2, new_label="yes")


def test_nobody_votes_keeps_the_smallest_class():
    pred = np.full((2, 4), -1)
    winner, radius, targeted = plurality_certify(
        pred, 3, per_class=True, new_label=True
    )
    assert winner.tolist() == [0, 0] and radius.tolist() == [0, 0]
    assert targeted[:, 0].tolist() == [-1, -1]
    assert targeted.shape == (2, 4)
