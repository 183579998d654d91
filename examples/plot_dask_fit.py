"""
=================================================
Fitting from a Dask DataFrame, exactly
=================================================

:class:`~skdpa.DPAClassifier` fits directly from Dask collections on the
current ``distributed.Client``: rows are hashed where they lie, sent to their
members by a Dask shuffle and fit on the workers; only the fitted members
come back. The result is the in-memory fit of the same rows, bit for bit,
whatever the partitioning. See :ref:`beyond_one_machine`.
"""

# %%
# A cluster and a partitioned data set
# ------------------------------------
# A small in-process cluster keeps this example fast; on real data, connect to
# your cluster's scheduler and read parquet with ``dd.read_parquet``.
import dask.dataframe as dd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.tree import DecisionTreeClassifier

from skdpa import DPAClassifier
from skdpa.datasets import load_train_test

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
)
client = Client(cluster)

X_train, X_test, y_train, y_test = load_train_test("digits")
columns = [f"px{i}" for i in range(X_train.shape[1])]
train = pd.DataFrame(X_train, columns=columns).assign(label=y_train)
ddf = dd.from_pandas(train, npartitions=6)
X_dask, y_dask = ddf.drop(columns="label"), ddf["label"]
print(f"{len(train)} training rows in {ddf.npartitions} partitions")

# %%
# Fit on the cluster, predict lazily
# ----------------------------------
# ``predict_certified`` on a Dask collection returns lazy Dask arrays, one
# block per partition.
clf = DPAClassifier(DecisionTreeClassifier(), k=30, spread=2, random_state=0)
clf.fit(X_dask, y_dask)
test = dd.from_pandas(pd.DataFrame(X_test, columns=columns), npartitions=3)
y_pred, radius = clf.predict_certified(test)
print(type(radius).__name__, "with", radius.numblocks[0], "blocks")
y_pred, radius = y_pred.compute(), radius.compute()

# %%
# The same ensemble as in memory
# ------------------------------
# Fit the rows the collections compute to, in memory, and compare: the same
# rows in every member, the same fingerprints, the same radii.
local = DPAClassifier(DecisionTreeClassifier(), k=30, spread=2, random_state=0)
local.fit(X_dask.compute(), y_dask.compute())
same_rows = all(
    np.array_equal(a, b)
    for a, b in zip(local.estimators_samples_, clf.estimators_samples_, strict=True)
)
local_pred, local_radius = local.predict_certified(
    pd.DataFrame(X_test, columns=columns)
)
print("same member rows:", same_rows)
print("same radii:", bool(np.array_equal(local_radius, radius)))

# %%
# Certified accuracy
# ------------------
# The share of test images predicted correctly with radius at least r.
r = np.arange(radius.max() + 2)
certified = [np.mean((y_pred == y_test) & (radius >= t)) for t in r]
fig, ax = plt.subplots(figsize=(5, 3))
ax.step(r, certified, where="post")
ax.set_xlabel("poisoned training samples r")
ax.set_ylabel("certified accuracy")
ax.set_title("DPA fit from a Dask DataFrame (k=30, spread=2)")
fig.tight_layout()

client.close()
cluster.close()
