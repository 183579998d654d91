"""scikit-dpa: certified defences against training-set poisoning.

Deep Partition Aggregation (DPA) and Semi-Supervised DPA (SS-DPA) of Levine &
Feizi (ICLR 2021) as scikit-learn estimators.
"""

from ._base import Certificate
from ._certify import certified_radius
from ._dpa import DPAClassifier
from ._multi_seed import MultiSeedClassifier
from ._ssdpa import SSDPAClassifier

__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "DPAClassifier",
    "MultiSeedClassifier",
    "SSDPAClassifier",
    "__version__",
    "certified_radius",
]
