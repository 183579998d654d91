"""scikit-learn's estimator checks over every public estimator."""

from helpers import MissingTargetRidge
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdpa import DPAClassifier, DPARegressor, SSDPAClassifier, SSDPARegressor
from skdpa.linear_model import RidgeClassifier

# Small k: the checks fit on ~30-300 samples, and members need a few each.
ESTIMATORS = [
    DPAClassifier(k=3, random_state=0),
    DPAClassifier(
        make_pipeline(StandardScaler(), LogisticRegression()), k=3, random_state=0
    ),
    DPAClassifier(KNeighborsClassifier(3), k=2, hasher="sum"),
    SSDPAClassifier(k=3, random_state=0),
    # any unsupervised transformer is an embedding; PCA's own 1-sample error
    # does not name the sample count the checks look for
    SSDPAClassifier(KNeighborsClassifier(1), k=3, embedding=StandardScaler()),
    SSDPAClassifier(
        SelfTrainingClassifier(LogisticRegression()), k=2, pass_unlabeled=True
    ),
    # a member with proven costs, alone and in an ensemble that prices it
    RidgeClassifier(),
    SSDPAClassifier(RidgeClassifier(), k=2, pass_unlabeled=True, cost_aware=True),
    DPARegressor(k=3, random_state=0),
    DPARegressor(make_pipeline(StandardScaler(), Ridge()), k=3, spread=2),
    SSDPARegressor(k=3, random_state=0),
    SSDPARegressor(Ridge(), k=3, embedding=StandardScaler(), partitioning="hash"),
    # members fit on every row, targets outside their partition hidden as NaN
    SSDPARegressor(
        make_pipeline(StandardScaler(), MissingTargetRidge()), k=2, pass_unlabeled=True
    ),
]

EXPECTED_FAILED_CHECKS = {
    "RidgeClassifier": {
        "check_classifiers_classes": (
            "skdpa.linear_model.RidgeClassifier reads y == -1 as unlabeled (a "
            "zero target row, for SS-DPA's edits to and from -1), so the "
            "check's -1/1 labels are one class plus unlabeled rows"
        ),
    },
    "SSDPAClassifier": {
        "check_classifiers_classes": (
            "y == -1 marks unlabeled rows (scikit-learn's semi-supervised "
            "convention), so -1 is never a class of SSDPAClassifier"
        ),
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
