"""
===================================================
Tabular data: a DataFrame with categorical columns
===================================================

A certified model for a customer table: numeric and categorical columns in a
pandas DataFrame, string labels, and categories so rare that most partitions
never see them. The whole preprocessing, a
:class:`~sklearn.compose.ColumnTransformer` included, goes **inside** the
member, so that each partition is encoded and scaled on its own; a
:class:`~sklearn.preprocessing.OneHotEncoder` with
``handle_unknown="ignore"`` keeps a member working when it meets a category
its partition never had.
"""

# %%
# A customer table
# ----------------
# 6,000 synthetic customers: age and yearly income (numeric), city and plan
# (categorical). Three of the eight cities are rare (0.5% to 1.5% of the rows).
# Whether a customer churns depends on all four columns.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdpa import DPAClassifier
from skdpa.metrics import median_certified_radius
from skdpa.plotting import CertifiedAccuracyDisplay

rng = np.random.default_rng(0)
n = 6000
cities = {
    "Lyon": (0.35, 0.0),
    "Paris": (0.30, 0.5),
    "Nantes": (0.15, -0.3),
    "Lille": (0.12, 0.2),
    "Brest": (0.05, -0.8),
    "Arles": (0.015, 1.5),
    "Albi": (0.01, -1.5),
    "Dax": (0.005, 2.0),
}
plans = {"basic": (0.6, -0.5), "plus": (0.3, 0.3), "pro": (0.1, 1.2)}
customers = pd.DataFrame(
    {
        "age": rng.integers(18, 80, n),
        "income": rng.lognormal(10, 0.5, n).round(-2),
        "city": rng.choice(list(cities), n, p=[p for p, _ in cities.values()]),
        "plan": rng.choice(list(plans), n, p=[p for p, _ in plans.values()]),
    }
)
logit = (
    0.04 * (customers["age"] - 45)
    + 0.8 * (np.log(customers["income"]) - 10)
    + customers["city"].map({c: e for c, (_, e) in cities.items()})
    + customers["plan"].map({p: e for p, (_, e) in plans.items()})
)
churn = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "churn", "stay")
X_train, X_test, y_train, y_test = train_test_split(
    customers, churn, test_size=0.25, stratify=churn, random_state=0
)
print(X_train.head())
print(X_train["city"].value_counts())

# %%
# The member: preprocessing inside
# --------------------------------
# Each member is a pipeline that scales the numeric columns and one-hot
# encodes the categorical ones, then fits a logistic regression. Because it is
# the *member*, every partition learns its own scaling and its own categories:
# no statistic of the whole training set reaches a member, as the certificate
# requires (see :ref:`voiding`).


def churn_member(handle_unknown):
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), ["age", "income"]),
            (
                "categories",
                OneHotEncoder(handle_unknown=handle_unknown),
                ["city", "plan"],
            ),
        ]
    )
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


# %%
# Rare categories and ``handle_unknown``
# --------------------------------------
# With ``k=100`` partitions of about 45 customers, a city held by 0.5% of the
# customers is missing from most partitions. Count them:
clf = DPAClassifier(churn_member("ignore"), k=100, random_state=0)
clf.fit(X_train, y_train)
for city in ("Arles", "Albi", "Dax"):
    has_city = [
        (X_train["city"].iloc[rows] == city).any() for rows in clf.estimators_samples_
    ]
    print(f"{city}: seen by {sum(has_city)} of {clf.n_members_} members")

# %%
# With the encoder's default, ``handle_unknown="error"``, a member that never
# saw a city raises when asked about it, and so does the ensemble's
# ``predict``; skdpa adds a note saying which member failed.
strict = DPAClassifier(churn_member("error"), k=100, random_state=0)
strict.fit(X_train, y_train)
try:
    strict.predict(X_test)
except ValueError as exc:
    print("ValueError:", exc)
    print("\n".join(getattr(exc, "__notes__", [])))

# %%
# With ``handle_unknown="ignore"`` such a city is encoded as all zeros: the
# member falls back on the other columns and still votes.
y_pred, radius = clf.predict_certified(X_test)
print(f"clean accuracy {np.mean(y_pred == y_test):.1%}")
print(
    "median certified radius",
    median_certified_radius(y_test, y_pred, radius),
    "(inserted, removed or relabelled customers)",
)

# %%
# Certified accuracy for two ``k``
# --------------------------------
# ``name=`` sets the legend entry, as in scikit-learn's displays; the axis
# says what the radius counts (read from ``certificate_``).
fig, ax = plt.subplots(figsize=(7, 4.5))
coarse = DPAClassifier(churn_member("ignore"), k=25, random_state=0)
coarse.fit(X_train, y_train)
CertifiedAccuracyDisplay.from_estimator(coarse, X_test, y_test, name="k=25", ax=ax)
CertifiedAccuracyDisplay.from_estimator(clf, X_test, y_test, name="k=100", ax=ax)
ax.set_title("Churn: certified accuracy against attack size")
plt.show()

# %%
# Each customer's certificate
# ---------------------------
# :meth:`~skdpa.DPAClassifier.certificate_report` says, per customer, how the
# members voted and how many poisoned rows it would take to make the other
# label win. Customers near the decision boundary have a small radius.
report = clf.certificate_report(X_test.head(6)).to_frame()
report.insert(0, "city", X_test["city"].head(6).to_numpy())
report
