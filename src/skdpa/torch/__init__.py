"""Deep members for DPA and SS-DPA: torch modules, skorch helpers, embeddings.

Needs the optional extra: ``pip install torch`` (a CPU build is enough) then
``pip install "scikit-dpa[torch]"``.

* :func:`make_skorch_member` builds a :class:`skorch.NeuralNetClassifier`
  configured for an ensemble (global number of logits, no hidden validation
  split, per-partition standardisation).
* :func:`make_batched_member` builds a torch member that the ensembles
  train ``group_size`` at a time (one after another by a lean loop, or as
  one stacked model with ``vmap``), each member independent of the others.
* :class:`CompactCNN` and :class:`NetworkInNetwork` are ready-made modules for
  28x28 images given as flattened rows.
* :class:`RotNetEmbedding` and :class:`SimCLREmbedding` are label-free
  embeddings for ``SSDPAClassifier(embedding=...)``.
* :func:`seeded_fit` / :func:`seeded_torch` make a torch member a
  deterministic function of its partition and seed, with one intra-op torch
  thread per worker by default (:func:`torch_threads`); the ensembles call
  them for members that :func:`involves_torch` says use torch.
* Ensembles call recognised skorch members' fitted modules directly when
  they predict (same outputs, far less overhead);
  :func:`direct_prediction` turns that off for a block.
* :func:`torch_member_warnings` lists what an ensemble warns about once per
  fit for such a member (a skorch validation split, no fixed ``classes=``);
  :func:`check_main_objects` stops a fit whose members could not come back
  from worker processes.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "skdpa.torch needs PyTorch and skorch: install a torch build for your "
        "platform, then `pip install 'scikit-dpa[torch]'`."
    ) from exc

from ._batched import BatchedTorchClassifier, make_batched_member
from ._checks import check_main_objects, involves_torch, torch_member_warnings
from ._direct import direct_prediction
from ._members import ImageStandardizer, make_skorch_member
from ._modules import CompactCNN, NetworkInNetwork
from ._rotnet import RotNetEmbedding
from ._seeding import seeded_fit, seeded_torch, torch_threads
from ._simclr import SimCLREmbedding

__all__ = [
    "BatchedTorchClassifier",
    "CompactCNN",
    "ImageStandardizer",
    "NetworkInNetwork",
    "RotNetEmbedding",
    "SimCLREmbedding",
    "check_main_objects",
    "direct_prediction",
    "involves_torch",
    "make_batched_member",
    "make_skorch_member",
    "seeded_fit",
    "seeded_torch",
    "torch_member_warnings",
    "torch_threads",
]
