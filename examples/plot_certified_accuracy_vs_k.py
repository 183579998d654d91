"""
=========================================
Certified accuracy against ``k`` (digits)
=========================================

The number of partitions ``k`` trades accuracy for robustness. Each member of a
:class:`~skdpa.DPAClassifier` learns from ``1/k`` of the training set, so
members get weaker as ``k`` grows; but a radius can reach ``k // 2``, so only a
large ensemble can certify against many poisoned samples. This example draws
certified accuracy against attack size for several ``k`` on scikit-learn's
digits, as in Figures 2-4 of Levine & Feizi (ICLR 2021).
"""

# %%
# Data and members
# ----------------
# A stratified train/test split of the 1,797 8x8 digits. Members are
# 1-nearest-neighbour classifiers: they need no fitting and do well on small
# partitions.
import matplotlib.pyplot as plt
from sklearn.neighbors import KNeighborsClassifier

from skdpa import DPAClassifier
from skdpa.datasets import load_train_test
from skdpa.metrics import median_certified_radius
from skdpa.plotting import CertifiedAccuracyDisplay

X_train, X_test, y_train, y_test = load_train_test("digits")
print(f"{len(X_train)} training and {len(X_test)} test images")

# %%
# One curve per ``k``
# -------------------
# :meth:`CertifiedAccuracyDisplay.from_predictions
# <skdpa.plotting.CertifiedAccuracyDisplay.from_predictions>` draws certified
# accuracy (the fraction of test images both correct *and* with a radius of at
# least the attack size) as a step curve from the output of
# ``predict_certified``; the dashed line of the same colour is the clean
# accuracy. Passing one ``ax`` puts the curves side by side.
fig, ax = plt.subplots(figsize=(7, 4.5))
for k in (10, 25, 50, 100):
    clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=k)
    clf.fit(X_train, y_train)
    y_pred, radius = clf.predict_certified(X_test)
    display = CertifiedAccuracyDisplay.from_predictions(
        y_test, y_pred, radius, ax=ax, label=f"k={k}"
    )
    print(
        f"k={k:3d}: clean accuracy {display.clean_accuracy:.1%}, "
        f"median certified radius {median_certified_radius(y_test, y_pred, radius)}"
    )
ax.set_xlabel("Attack size (training samples inserted, removed or relabelled)")
ax.set_title("DPA on digits: certified accuracy against attack size")
plt.show()

# %%
# Reading the curves
# ------------------
# With ``k=10`` nearly every prediction is correct, but no radius exceeds 5:
# six poisoned samples are enough to void every certificate. With ``k=100``
# clean accuracy is a few points lower, yet half of the test set stays
# certified against about 20 insertions or removals. The median certified
# radius (where a curve crosses 50%) summarises this trade-off in one number
# per ``k``; :ref:`sphx_glr_auto_examples_plot_choose_k_grid_search.py` picks
# ``k`` for a given budget with cross-validation.
