"""scikit-dpa: certified defences against training-set poisoning.

Deep Partition Aggregation (DPA) and Semi-Supervised DPA (SS-DPA) of Levine &
Feizi (ICLR 2021) as scikit-learn estimators.
"""

from . import certify
from ._base import Certificate
from ._config import config_context, get_config, set_config
from ._dpa import DPAClassifier
from ._report import CertificateReport
from ._ssdpa import SSDPAClassifier
from .certify import certified_radius

__version__ = "0.2.0.dev0"

__all__ = [
    "Certificate",
    "CertificateReport",
    "DPAClassifier",
    "SSDPAClassifier",
    "__version__",
    "certified_radius",
    "certify",
    "config_context",
    "get_config",
    "set_config",
]
