"""scikit-dpa: certified defences against training-set poisoning.

Deep Partition Aggregation (DPA) and Semi-Supervised DPA (SS-DPA) of Levine &
Feizi (ICLR 2021) as scikit-learn estimators.
"""

from ._base import Certificate
from ._dpa import DPAClassifier
from ._ssdpa import SSDPAClassifier
from .certify import certified_radius

__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "DPAClassifier",
    "SSDPAClassifier",
    "__version__",
    "certified_radius",
]
