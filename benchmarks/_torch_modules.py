"""Torch modules for the benchmarks.

They live in an importable module, not in the benchmark script: skorch pickles a
fitted net's module with plain :mod:`pickle`, so a joblib worker (``n_jobs=2``)
can send a member back only if its module class is importable by name, which a
class defined in ``__main__`` is not.
"""

from torch import nn


class MLP(nn.Module):
    """784-hidden-10 ReLU network on raw pixels (it divides by 255 itself).

    The scaling is a fixed constant, not a statistic of the training set, so it
    does not void the certificate; it lets the paper's sum hash see integer
    pixel values.
    """

    def __init__(self, hidden=64, n_features=784, n_classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        return self.net(x / 255.0)
