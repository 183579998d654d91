"""scikit-dpa: certified defences against training-set poisoning.

Deep Partition Aggregation (DPA) and Semi-Supervised DPA (SS-DPA) of Levine &
Feizi (ICLR 2021) as scikit-learn estimators, with the finite-aggregation and
run-off-election certificates that followed.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from skdpa import DPAClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = DPAClassifier(k=15, classes=[0, 1, 2], random_state=0).fit(X, y)
>>> y_pred, radius = clf.predict_certified(X[:3])
>>> y_pred.tolist(), bool((radius >= 0).all())
([0, 0, 0], True)
"""

from . import certify
from ._base import Certificate
from ._config import config_context, get_config, set_config
from ._dpa import DPAClassifier
from ._multi_seed import MultiSeedClassifier
from ._persistence import load
from ._regression import DPARegressor, RegressionCertificate, SSDPARegressor
from ._report import CertificateReport
from ._ssdpa import SSDPAClassifier
from .certify import certified_radius

__version__ = "0.3.0"

__all__ = [
    "Certificate",
    "CertificateReport",
    "DPAClassifier",
    "DPARegressor",
    "MultiSeedClassifier",
    "RegressionCertificate",
    "SSDPAClassifier",
    "SSDPARegressor",
    "__version__",
    "certified_radius",
    "certify",
    "config_context",
    "get_config",
    "load",
    "set_config",
]
