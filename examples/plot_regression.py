"""
====================================================
Certified regression: intervals, radius and coverage
====================================================

:class:`~skdpa.DPARegressor` fits one regressor per partition and predicts the
**median** of the members. Poisoning ``r`` training samples changes at most
``r`` members, so the prediction cannot leave the interval between the member
outputs ``r`` places below and above the middle. This example shows the
interval on scikit-learn's diabetes data, checks it against a real attack, and
draws certified coverage against attack size for several ``k``.
"""

# %%
# Members and the certified interval
# ----------------------------------
# Ridge members (scaling would go inside each member; diabetes is already
# scaled). ``predict_interval(X, r)`` bounds the prediction under any
# insertion, removal or target change of ``r`` training samples.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

from skdpa import DPARegressor
from skdpa.datasets import load_train_test
from skdpa.plotting import CertifiedCoverageDisplay

X_train, X_test, y_train, y_test = load_train_test("diabetes")
reg = DPARegressor(Ridge(), k=21, random_state=0).fit(X_train, y_train)
x = X_test[:1]
print(f"prediction {reg.predict(x)[0]:.1f}, truth {y_test[0]:.1f}")
for r in (1, 3, 6, 10, 11):
    lower, upper = reg.predict_interval(x, r)
    print(f"r={r:2d}: [{lower[0]:7.1f}, {upper[0]:7.1f}]")

# %%
# An attack that reaches the lower end
# ------------------------------------
# Insert three copies of the test point, each into the partition of one of
# the three members with the highest outputs, with an extreme target. The
# refit prediction lands exactly on the lower end of the interval for
# ``r=3``: the bound is tight.
outputs = reg.member_predictions(x)[0]
top = np.argsort(outputs)[::-1][:3]
rng = np.random.default_rng(0)
candidates = x + rng.normal(scale=1e-7, size=(20000, x.shape[1]))
where = reg.assign_partitions(candidates)
poison = np.array([candidates[np.flatnonzero(where == j)[0]] for j in top])
poisoned = DPARegressor(Ridge(), k=21, random_state=0).fit(
    np.vstack([X_train, poison]), np.r_[y_train, [-1e6] * 3]
)
lower, upper = reg.predict_interval(x, 3)
print(f"after 3 poisoned samples: {poisoned.predict(x)[0]:.1f} (bound {lower[0]:.1f})")

# %%
# Certified radius at a tolerance
# -------------------------------
# ``predict_certified(X, tolerance)`` returns the largest ``r`` whose interval
# stays within the tolerance of the prediction.
y_pred, radius = reg.predict_certified(X_test, tolerance=25.0)
print(f"median certified radius at tolerance 25: {np.median(radius):g}")

# %%
# Certified coverage against attack size
# --------------------------------------
# The share of test rows whose certified interval lies within 50 of the true
# target, for growing attacks; the dashed line is the clean share. More
# members certify against larger attacks.
fig, ax = plt.subplots(figsize=(7, 4.5))
for k in (5, 21, 41):
    model = DPARegressor(Ridge(), k=k, random_state=0).fit(X_train, y_train)
    CertifiedCoverageDisplay.from_estimator(
        model, X_test, y_test, tolerance=50.0, ax=ax, name=f"k={k}"
    )
ax.set_title("DPARegressor on diabetes")
plt.show()
