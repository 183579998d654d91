"""
=====================================================
A spam filter certified against poisoned messages
=====================================================

A spam filter learns from messages that users label, so an attacker can
*poison* it: submit messages that resemble their spam, labelled as legitimate
("ham"), until the filter lets the spam through. This example trains a
TF-IDF + logistic regression filter inside a :class:`~skdpa.DPAClassifier` and
compares what poisoning does to it and to the same filter trained on all the
data at once.

The messages are generated here from templates (no download), so the example
runs anywhere in a few seconds.
"""

# %%
# A small corpus of messages
# --------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skdpa import DPAClassifier
from skdpa.metrics import median_certified_radius
from skdpa.plotting import CertifiedAccuracyDisplay

rng = np.random.default_rng(0)
WORDS = {
    "name": ["Sam", "Alex", "Jo", "Priya", "Tom", "Mia", "Leo", "Ana"],
    "place": ["the cafe", "the station", "home", "work", "the gym", "the park"],
    "time": ["6", "7pm", "noon", "half past 5", "8", "10am"],
    "thing": ["milk", "bread", "the keys", "my charger", "the tickets", "dinner"],
    "day": ["Monday", "Tuesday", "Friday", "the weekend", "tomorrow"],
    "prize": ["iPhone", "holiday", "gift card", "cash prize", "laptop"],
    "site": ["win", "prize", "secure", "claim"],
    "code": ["WIN", "FREE", "GO", "CLAIM"],
}
HAM = [
    "hey {name}, are we still on for {time} at {place}?",
    "can you grab {thing} on the way home",
    "running late, see you at {place} around {time}",
    "thanks for {thing} yesterday {name}",
    "meeting moved to {day} at {time}",
    "{name} says hi, call me when you are at {place}",
    "did you remember {thing}? leaving {place} at {time}",
    "ok see you {day} {name}",
]
SPAM = [
    "WINNER! you have won a {prize}, call {phone} now to claim",
    "URGENT your account is suspended, verify at {url} today",
    "free {prize} for you! text {code} to {short}",
    "congratulations you are selected for a {amount} {prize}, reply YES",
    "cheap loans approved in minutes, call {phone}",
    "claim your {prize} before {day}, visit {url}",
    "you have 1 new voicemail about your {prize}, call {phone}",
]


def message(template):
    fields = {key: rng.choice(values) for key, values in WORDS.items()}
    fields["phone"] = f"0{rng.integers(800, 900)}{rng.integers(100000, 999999)}"
    fields["url"] = f"www.{fields['site']}{rng.integers(10, 99)}.biz"
    fields["short"] = rng.integers(80000, 89999)
    fields["amount"] = f"${rng.integers(1, 10)}000"
    return template.format(**fields)


is_spam = rng.random(500) < 0.4
messages = [message(rng.choice(SPAM if s else HAM)) for s in is_spam]
labels = np.where(is_spam, "spam", "ham")
X_train, X_test, y_train, y_test = train_test_split(
    messages, labels, test_size=0.25, stratify=labels, random_state=0
)
print(len(X_train), "training messages, e.g.", X_train[:2])

# %%
# The certified filter
# --------------------
# The whole text pipeline is the *member*: each of the ``k`` members fits its
# own vocabulary and IDF weights on its own partition. A ``TfidfVectorizer``
# placed before ``DPAClassifier`` would be fit on all messages, and one poisoned
# message could then reach every member (see :ref:`voiding`).
member = make_pipeline(
    TfidfVectorizer(), LogisticRegression(C=10, class_weight="balanced")
)
k = 24
filter_dpa = DPAClassifier(member, k=k).fit(X_train, y_train)
y_pred, radius = filter_dpa.predict_certified(X_test)
print(f"clean accuracy {np.mean(y_pred == y_test):.1%}")
print("median certified radius", median_certified_radius(y_test, y_pred, radius))
print(filter_dpa.certificate_)

CertifiedAccuracyDisplay.from_estimator(filter_dpa, X_test, y_test, label=f"k={k}")
plt.show()

# %%
# A poisoning attack
# ------------------
# The attacker picks a spam message that the filter catches and submits
# near-copies of it labelled "ham" (each copy differs by a number, so copies
# land in different partitions).
caught = np.flatnonzero((y_test == "spam") & (y_pred == "spam"))
target = X_test[caught[np.argmax(radius[caught])]]
target_radius = radius[X_test.index(target)]
print(repr(target))
print("votes (ham, spam):", filter_dpa.vote_counts([target])[0])
print("certified radius:", target_radius)


def poisoned(n_copies, exact=False):
    copies = [target if exact else f"{target} {i}" for i in range(n_copies)]
    return list(X_train) + copies, np.concatenate([y_train, ["ham"] * n_copies])


# %%
# Without the defence, a handful of poisoned messages lets the spam through:
plain = make_pipeline(
    TfidfVectorizer(), LogisticRegression(C=10, class_weight="balanced")
)
for n_copies in (0, 2, 5, 10):
    X_poisoned, y_poisoned = poisoned(n_copies)
    verdict = plain.fit(X_poisoned, y_poisoned).predict([target])[0]
    print(f"plain filter, {n_copies:2d} poisoned messages: {verdict}")

# %%
# With the defence, up to ``radius`` poisoned messages *provably* change
# nothing, whatever they contain. Beyond the radius there is no promise: with
# enough copies in every partition the attack succeeds.
for n_copies in (int(target_radius), 3 * k):
    X_poisoned, y_poisoned = poisoned(n_copies)
    attacked = DPAClassifier(member, k=k).fit(X_poisoned, y_poisoned)
    votes = attacked.vote_counts([target])[0]
    verdict = attacked.predict([target])[0]
    print(f"DPA filter, {n_copies:3d} poisoned messages: {verdict}, votes {votes}")

# %%
# Exact copies are the cheapest attack on the plain filter, and the weakest on
# DPA: identical messages hash to the same partition, so 200 copies move one
# vote.
X_poisoned, y_poisoned = poisoned(200, exact=True)
print(
    "plain filter, 200 exact copies:",
    plain.fit(X_poisoned, y_poisoned).predict([target])[0],
)
attacked = DPAClassifier(member, k=k).fit(X_poisoned, y_poisoned)
print(
    "DPA filter, 200 exact copies:",
    attacked.predict([target])[0],
    "votes",
    attacked.vote_counts([target])[0],
)
