"""Deep members for DPA and SS-DPA: torch modules, skorch helpers, embeddings.

Needs the optional extra: ``pip install torch`` (a CPU build is enough) then
``pip install "scikit-dpa[torch]"``.

* :func:`make_skorch_member` builds a :class:`skorch.NeuralNetClassifier`
  configured for an ensemble (global number of logits, no hidden validation
  split, per-partition standardisation).
* :class:`CompactCNN` and :class:`NetworkInNetwork` are ready-made modules for
  28x28 images given as flattened rows.
* :class:`RotNetEmbedding` and :class:`SimCLREmbedding` are label-free
  embeddings for ``SSDPAClassifier(embedding=...)``.
* :func:`seeded_fit` / :func:`seeded_torch` make a torch member a
  deterministic function of its partition and seed; the ensembles call them.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "skdpa.torch needs PyTorch and skorch: install a torch build for your "
        "platform, then `pip install 'scikit-dpa[torch]'`."
    ) from exc

from ._members import ImageStandardizer, make_skorch_member
from ._modules import CompactCNN, NetworkInNetwork
from ._rotnet import RotNetEmbedding
from ._seeding import seeded_fit, seeded_torch
from ._simclr import SimCLREmbedding

__all__ = [
    "CompactCNN",
    "ImageStandardizer",
    "NetworkInNetwork",
    "RotNetEmbedding",
    "SimCLREmbedding",
    "make_skorch_member",
    "seeded_fit",
    "seeded_torch",
]
