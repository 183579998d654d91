"""
=================================================
Removing a poisoned batch with a warm refit
=================================================

A batch of training rows turns out to be poisoned. We remove it and refit
with ``warm_start=True``: only the members whose partition held a poisoned
row are refit, the others are kept, and the result is identical to a cold fit
on the clean data, so its certificates are exactly those of a fresh model.
"""

# %%
# Training data from several sources
# ----------------------------------
# scikit-learn's digits, plus a batch of 40 rows from a supplier, "vendor-c".
# The batch is an attack on one test image of a 3: near copies of it (each
# pixel moved by at most 1), labelled 8. Near copies have different content,
# so they land in different partitions and each one sways a member.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from skdpa import DPAClassifier
from skdpa.datasets import load_train_test

X_train, X_test, y_train, y_test = load_train_test("digits")
rng = np.random.default_rng(0)
target = np.flatnonzero(y_test == 3)[0]
n_poison = 40
X_poison = np.clip(X_test[target] + rng.integers(-1, 2, size=(n_poison, 64)), 0, 16)
X = np.vstack([X_train, X_poison])
y = np.concatenate([y_train, np.full(n_poison, 8)])
source = np.array(["trusted"] * len(X_train) + ["vendor-c"] * n_poison)
print(f"{len(X)} training rows, {n_poison} of them from vendor-c")

# %%
# The poisoned model
# ------------------
# 60 logistic-regression members. ``warm_start=True`` keeps what the next
# ``fit`` needs to tell which members changed.
member = LogisticRegression(max_iter=2000)
clf = DPAClassifier(member, k=60, warm_start=True, random_state=0)
clf.fit(X, y)
poisoned_pred, poisoned_radius = clf.predict_certified(X_test)
print(
    f"test image {target} (a 3) is predicted {poisoned_pred[target]} "
    f"with radius {poisoned_radius[target]}"
)

# %%
# Unlearning the batch
# --------------------
# An audit finds vendor-c's batch. Remove its rows and refit: the warm refit
# fits only the members whose partition lost a row (``refitted_``).
keep = source != "vendor-c"
start = time.perf_counter()
clf.fit(X[keep], y[keep])
warm_time = time.perf_counter() - start
print(f"warm refit: {clf.refitted_.sum()} of {clf.n_members_} members refit")

# %%
# A cold fit of the clean rows, for comparison: same members, bit for bit.
start = time.perf_counter()
cold = DPAClassifier(member, k=60, random_state=0).fit(X[keep], y[keep])
cold_time = time.perf_counter() - start
same = np.array_equal(clf.member_scores(X_test), cold.member_scores(X_test))
print(f"warm refit {warm_time:.2f} s, cold fit {cold_time:.2f} s")
same_votes = np.array_equal(clf.vote_counts(X_test), cold.vote_counts(X_test))
print(f"member scores identical to the cold fit: {same}")
print(f"votes identical: {same_votes}")

# %%
# What moved
# ----------
# The target is a 3 again. Removing 40 rows is an attack of size 40, so the
# certificate of the poisoned model already said which predictions it could
# move: only those with a radius below 40.
y_pred, radius = clf.predict_certified(X_test)
changed = y_pred != poisoned_pred
print(
    f"test image {target} is now predicted {y_pred[target]} (radius {radius[target]})"
)
print(
    f"{changed.sum()} test predictions changed; their radius before: "
    f"{sorted(poisoned_radius[changed].tolist())}"
)
assert np.all(poisoned_radius[changed] < n_poison)

# %%
# Which members were refit, and what it cost
# -------------------------------------------
fig, (ax_members, ax_time) = plt.subplots(
    1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [3, 1]}
)
ax_members.bar(
    np.arange(clf.n_members_),
    clf.refitted_,
    color=np.where(clf.refitted_, "tab:red", "tab:gray"),
)
ax_members.set_xlabel("member")
ax_members.set_yticks([0, 1], ["kept", "refit"])
ax_members.set_title(f"{clf.refitted_.sum()} of {clf.n_members_} members refit")
ax_time.bar(["warm", "cold"], [warm_time, cold_time], color=["tab:red", "tab:gray"])
ax_time.set_ylabel("fit time (s)")
ax_time.set_title("time")
fig.tight_layout()
plt.show()

# %%
# Timings in this example are from a single run on the machine that built the
# documentation. :ref:`benchmarks-lifecycle` measures warm refits on
# Fashion-MNIST, and :ref:`unlearning` says what SS-DPA can reuse.
