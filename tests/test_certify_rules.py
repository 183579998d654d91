"""Certificates of the plurality and run-off rules against exhaustive poisoning.

The reference (``certify_reference``) elects winners and poisons buckets from
the definitions alone; these tests check that the library's winner is the
reference winner on every configuration (ties included) and that no attack
within the certified radius changes it.
"""

import itertools
import math

import numpy as np
import pytest
from certify_reference import (
    Game,
    attack_sets,
    exact_certificates,
    plurality,
    published_fa_radius,
    published_roe_radius,
    ranking,
    runoff,
    smallest_greedy_attack,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import skdpa
import skdpa.certify as certify
from skdpa.certify import (
    certified_radius,
    plurality_certify,
    plurality_winner,
    runoff_certify,
    runoff_winner,
)

# ---------------------------------------------------------------------------
# Configurations


def _score_vectors(n_classes):
    """Score vectors grouped by the ranking they induce.

    All vectors over {0, 0.5, 1} (most rankings have tied representatives: for
    three classes (1, 1, 1) ranks 0 > 1 > 2), so choosing among them exercises
    the tie-break, and one strict vector per ranking.
    """
    groups = {}
    for v in itertools.product([0.0, 0.5, 1.0], repeat=n_classes):
        groups.setdefault(ranking(v), []).append(v)
    for order in itertools.permutations(range(n_classes)):  # strict ones too
        v = [0.0] * n_classes
        for position, c in enumerate(order):
            v[c] = float(n_classes - position)
        groups.setdefault(order, []).append(tuple(v))
    return groups


def _scores_for(configs, n_classes, seed):
    """Member score arrays for ranking configurations (None -> NaN row)."""
    rng = np.random.default_rng(seed)
    groups = _score_vectors(n_classes)
    scores = np.empty((len(configs), len(configs[0]), n_classes))
    for i, config in enumerate(configs):
        for j, output in enumerate(config):
            if output is None:
                scores[i, j] = np.nan
            else:
                options = groups[output]
                scores[i, j] = options[rng.integers(len(options))]
    return scores


def _configs(game, n_members, how, seed=0, n_sample=0, bias=0.0):
    """All sequences, all multisets (d = 1: members are interchangeable), or a
    sample in which each member gives the first ranked output with
    probability ``bias`` (a clear winner, hence larger radii)."""
    outputs = game.outputs
    if how == "all":
        return list(itertools.product(outputs, repeat=n_members))
    if how == "multisets":
        return list(itertools.combinations_with_replacement(outputs, n_members))
    rng = np.random.default_rng(seed)
    favourite = outputs[1]
    configs = set()
    while len(configs) < n_sample:
        configs.add(
            tuple(
                favourite
                if rng.random() < bias
                else outputs[rng.integers(len(outputs))]
                for _ in range(n_members)
            )
        )
    return sorted(configs, key=repr)


def _predictions(configs):
    return np.array([[-1 if o is None else o for o in c] for c in configs])


# (n_members, n_classes, shifts, how, n_sample, bias)
PLURALITY_CASES = [
    (6, 3, [0], "all", 0, 0),
    (8, 3, [0], "multisets", 0, 0),
    (10, 2, [0], "multisets", 0, 0),
    (6, 3, [2], "all", 0, 0),  # d = 1 with a non-zero shift: a relabelling
    (6, 2, [0, 1], "all", 0, 0),
    (6, 3, [0, 3], "all", 0, 0),
    (6, 3, [1, 4], "all", 0, 0),
    (8, 2, [0, 1], "all", 0, 0),
    (8, 2, [1, 6], "all", 0, 0),
    (6, 3, [0, 2, 4], "all", 0, 0),
    (6, 3, [0, 1, 3], "all", 0, 0),  # not symmetric: b + S and b - S differ
    (9, 2, [0, 1, 3], "all", 0, 0),
    (9, 3, [2, 4, 8], "sample", 3000, 0.6),
]

RUNOFF_CASES = [
    (6, 3, [0], "multisets", 0, 0),
    (8, 3, [0], "multisets", 0, 0),
    (8, 2, [0], "multisets", 0, 0),
    (4, 3, [0, 1], "all", 0, 0),
    (4, 3, [0, 2], "all", 0, 0),
    (6, 2, [0, 1], "all", 0, 0),
    (6, 2, [0, 3], "all", 0, 0),
    (6, 2, [0, 2, 4], "all", 0, 0),
    (6, 2, [0, 1, 3], "all", 0, 0),
    (9, 2, [0, 1, 3], "all", 0, 0),
    (6, 3, [0, 1], "sample", 2000, 0.5),
    (6, 3, [0, 1, 3], "sample", 2000, 0.5),
    (8, 3, [1, 4], "sample", 1000, 0.6),
    (9, 3, [0, 1, 3], "sample", 600, 0.7),
    (12, 3, [0, 1, 5], "sample", 300, 0.8),
]


def _case_id(case):
    n_members, n_classes, shifts, how, _, _ = case
    return f"M{n_members}-C{n_classes}-S{'_'.join(map(str, shifts))}-{how}"


# ---------------------------------------------------------------------------
# Exhaustive checks


@pytest.mark.parametrize("case", PLURALITY_CASES, ids=_case_id)
def test_plurality_certificate_by_exhaustion(case):
    n_members, n_classes, shifts, how, n_sample, bias = case
    game = Game("plurality", n_classes)
    configs = _configs(game, n_members, how, n_sample=n_sample, bias=bias)
    sets = attack_sets(n_members, shifts)
    pred = _predictions(configs)
    winner, radius, targeted = plurality_certify(
        pred, n_classes, shifts, per_class=True
    )
    votes = np.stack([(pred == c).sum(axis=1) for c in range(n_classes)], axis=1)
    for i, config in enumerate(configs):
        w, r, t = exact_certificates(game, config, shifts, sets)
        assert winner[i] == w, config
        assert radius[i] <= r, config  # sound: no attack of radius buckets wins
        assert np.all(targeted[i] <= t), config
        assert radius[i] >= published_fa_radius(list(pred[i]), n_classes, shifts)
        if len(shifts) == 1:
            # d = 1: Theorem 1 and the per-class certificates are exact, so an
            # attack of radius + 1 buckets does change the winner.
            assert radius[i] == r, config
            assert targeted[i].tolist() == t, config
    rivals = np.where(targeted < 0, n_members + 1, targeted)
    assert np.array_equal(radius, rivals.min(axis=1))
    if len(shifts) == 1:
        assert np.array_equal(radius, certified_radius(votes))


@pytest.mark.parametrize("case", RUNOFF_CASES, ids=_case_id)
def test_runoff_certificate_by_exhaustion(case):
    n_members, n_classes, shifts, how, n_sample, bias = case
    game = Game("runoff", n_classes)
    configs = _configs(game, n_members, how, n_sample=n_sample, bias=bias)
    sets = attack_sets(n_members, shifts)
    scores = _scores_for(configs, n_classes, seed=n_members)
    winner, radius, targeted = runoff_certify(scores, shifts, per_class=True)
    tight = 0
    for i, config in enumerate(configs):
        w, r, t = exact_certificates(game, config, shifts, sets)
        assert winner[i] == w, config
        assert 0 <= radius[i] <= r, config
        assert np.all(targeted[i] <= t), config
        tight += radius[i] == r
    rivals = np.where(targeted < 0, n_members + 1, targeted)
    assert np.array_equal(radius, rivals.min(axis=1))
    assert np.array_equal(winner, runoff_winner(scores))
    # Regression guard, not a pinned result: the certificate was exact on
    # 99.5-100% of these configurations when written.
    assert tight >= 0.9 * len(configs)


def test_exhaustion_finds_the_smallest_attack():
    """The brute force itself: Theorem 1 is exact, so it must agree on d = 1."""
    game = Game("plurality", 3)
    for config in itertools.product(game.outputs, repeat=5):
        _, r, _ = exact_certificates(game, config, [0])
        votes = [[sum(o == c for o in config) for c in range(3)]]
        assert r == certified_radius(votes)[0]


# ---------------------------------------------------------------------------
# Winners: the library's elections are the reference elections, ties included


@pytest.mark.parametrize(
    "n_members, values",
    [
        (3, [0.0, 0.5, 1.0, math.nan]),
        (3, [-math.inf, 0.0, 1.0, math.nan]),
        (2, [-math.inf, 0.0, 0.5, 1.0, math.inf, math.nan]),
    ],
)
def test_runoff_winner_matches_reference_on_every_score_tie(n_members, values):
    n_classes = 3
    vectors = [
        v
        for v in itertools.product(values, repeat=n_classes)
        if all(math.isnan(x) for x in v) or not any(math.isnan(x) for x in v)
    ]
    configs = list(itertools.product(vectors, repeat=n_members))
    scores = np.array(configs, dtype=float)
    expected = [runoff([ranking(v) for v in c], n_classes) for c in configs]
    assert runoff_winner(scores).tolist() == expected
    assert runoff_certify(scores)[0].tolist() == expected


def test_runoff_winner_two_classes_matches_reference():
    vectors = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (math.nan, math.nan)]
    configs = list(itertools.product(vectors, repeat=5))
    scores = np.array(configs)
    expected = [runoff([ranking(v) for v in c], 2) for c in configs]
    assert runoff_winner(scores).tolist() == expected


def test_plurality_winner_matches_reference():
    configs = list(itertools.product([-1, 0, 1, 2], repeat=5))
    pred = np.array(configs)
    expected = [plurality([None if o < 0 else o for o in c], 3) for c in configs]
    assert plurality_winner(pred, 3).tolist() == expected
    assert plurality_certify(pred, 3)[0].tolist() == expected
    assert plurality_certify(pred, 3, [0, 1, 2, 3, 4])[0].tolist() == expected


# ---------------------------------------------------------------------------
# Pinned small cases (worked by hand)


def test_plurality_fa_pinned():
    # M = 4, shifts {0, 1}: bucket b feeds members b and b + 1. Votes 0,0,0,1:
    # class 0 leads 3-1 (gap G = 2 against class 1, which loses ties). Bucket 3
    # feeds members 3 and 0: effect 1 + 2 = 3 > 2, so one bucket suffices.
    winner, radius = plurality_certify([[0, 0, 0, 1]], 2, shifts=[0, 1])
    assert winner.tolist() == [0] and radius.tolist() == [0]
    # Same votes under DPA: floor(2 / 2) = 1.
    assert plurality_certify([[0, 0, 0, 1]], 2)[1].tolist() == [1]


def test_runoff_pinned_round_two_tie():
    # Finalists 0 and 2 (two votes each); in round 2 two members prefer 0 and
    # two prefer 2: the tie goes to class 0.
    scores = [[[0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.1, 0.3, 0.6], [0.2, 0.3, 0.5]]]
    winner, radius = runoff_certify(scores)
    assert winner.tolist() == [0] and radius.tolist() == [0]


def test_runoff_beats_plurality_where_the_final_is_lopsided():
    # Round 1: class 0 has 5 votes, class 1 has 4, class 2 has 3: plurality
    # certifies floor((5 - 4) / 2) = 0. Every other voter ranks class 0 second,
    # so class 0 wins the final 8 to 4 (against 1) or 9 to 3 (against 2); two
    # poisoned members are needed to push it out of round 1 (each closes the
    # two round-1 leads 2 + 3 by at most 3): radius 1, which is exact.
    rows = [[3, 1, 0]] * 5 + [[1, 3, 0]] * 4 + [[1, 0, 3]] * 3
    scores = np.array([rows], dtype=float)
    pred = scores.argmax(axis=2)
    assert plurality_certify(pred, 3)[1].tolist() == [0]
    winner, radius = runoff_certify(scores)
    outputs = [ranking(v) for v in rows]
    _, exact, _ = exact_certificates(Game("runoff", 3), outputs, [0])
    assert winner.tolist() == [0] and radius.tolist() == [exact] == [1]


def test_single_class_convention():
    # With one class the winner cannot change; the radius is taken against a
    # second class nobody votes for, as certified_radius does.
    pred = np.array([[0, 0, 0, -1], [0, -1, -1, -1]])
    assert (
        plurality_certify(pred, 1)[1].tolist() == certified_radius([[3], [1]]).tolist()
    )
    w, r, t = plurality_certify(pred, 1, per_class=True)
    assert w.tolist() == [0, 0] and t.tolist() == [[-1], [-1]]
    scores = np.array([[[1.0], [2.0], [0.5], [np.nan]]])
    w, r, t = runoff_certify(scores, per_class=True)
    assert w.tolist() == [0] and r[0] >= 0 and t.tolist() == [[-1]]


def test_empty_and_dtypes():
    w, r, t = plurality_certify(np.zeros((0, 4), dtype=int), 3, per_class=True)
    assert w.shape == (0,) and r.shape == (0,) and t.shape == (0, 3)
    w, r, t = runoff_certify(np.zeros((0, 4, 3)), [0, 2], per_class=True)
    assert w.shape == (0,) and r.shape == (0,) and t.shape == (0, 3)
    scores = np.random.default_rng(0).random((5, 6, 3))
    w64, r64 = runoff_certify(scores)
    w32, r32 = runoff_certify(scores.astype(np.float32))
    assert w64.dtype == r64.dtype == np.int64
    assert np.array_equal(w64, w32) and np.array_equal(r64, r32)
    ints = (scores * 4).astype(np.int64)
    assert np.array_equal(
        runoff_certify(ints)[1], runoff_certify(ints.astype(float))[1]
    )
    pred = np.array([[0, 1, 1]], dtype=np.uint8)
    assert plurality_certify(pred, 2)[0].tolist() == [1]


def test_public_names():
    assert skdpa.certified_radius is certify.certified_radius
    for name in certify.__all__:
        assert callable(getattr(certify, name))


# ---------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"member_predictions": [0, 1]}, r"2-D array .* got an array with ndim=1"),
        ({"member_predictions": np.zeros((2, 0), int)}, "at least one member; got 0"),
        ({"member_predictions": [[0.0, 1.0]]}, "integer class indices .* float64"),
        ({"member_predictions": [[0, 3]]}, r"\[-1, 3\) .* from 0 to 3"),
        ({"member_predictions": [[-2, 0]]}, r"\[-1, 3\) .* from -2 to 0"),
        ({"n_classes": 0}, "n_classes must be an integer >= 1; got 0"),
        ({"n_classes": 2.0}, "n_classes must be an integer >= 1; got 2.0"),
        ({"n_classes": True}, "n_classes must be an integer >= 1; got True"),
        ({"shifts": [0, 0]}, r"shifts must be distinct; got \[0\] more than once"),
        ({"shifts": [0, 4]}, r"\[0, n_members\) = \[0, 4\); got values from 0 to 4"),
        ({"shifts": [-1, 1]}, r"\[0, 4\); got values from -1 to 1"),
        ({"shifts": [0, 1, 2]}, "multiple of len.*n_members=4 and 3 shifts"),
        ({"shifts": []}, r"non-empty 1-D .* shape \(0,\)"),
        ({"shifts": [[0, 1]]}, r"non-empty 1-D .* shape \(1, 2\)"),
        ({"shifts": [0.0, 2.0]}, "shifts must be integers; got an array of dtype"),
    ],
)
def test_plurality_rejects(kwargs, match):
    args = {"member_predictions": [[0, 1, 2, -1]], "n_classes": 3, "shifts": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plurality_certify(**args)


def test_plurality_winner_rejects():
    with pytest.raises(ValueError, match=r"\[-1, 2\) .* from 0 to 2"):
        plurality_winner([[0, 2]], 2)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        plurality_winner([[0, 1]], -1)


@pytest.mark.parametrize(
    "scores, shifts, match",
    [
        (np.zeros((2, 3)), None, r"3-D array .* got an array with ndim=2"),
        (np.zeros((1, 0, 3)), None, "at least one member; got 0"),
        (np.zeros((1, 2, 0)), None, "at least one class; got 0"),
        (np.array([[["a", "b"]]]), None, "real numbers; got an array of dtype <U1"),
        (np.ones((1, 2, 2), dtype=bool), None, "real numbers; .* dtype bool"),
        (
            np.array([[[0.1, 0.9], [np.nan, 0.2]], [[0.0, 1.0], [1.0, 0.0]]]),
            None,
            "member 1 of sample 0 has 1 NaN among 2 scores",
        ),
        (np.zeros((1, 4, 2)), [1, 1], r"distinct; got \[1\]"),
        (np.zeros((1, 4, 2)), [0, 5], r"\[0, 4\); got values from 0 to 5"),
        (np.zeros((1, 6, 2)), [0, 1, 2, 3], "n_members=6 and 4 shifts"),
    ],
)
def test_runoff_rejects(scores, shifts, match):
    with pytest.raises(ValueError, match=match):
        runoff_certify(scores, shifts)


def test_runoff_winner_rejects_partial_nan_in_a_later_chunk(monkeypatch):
    monkeypatch.setattr(certify, "_WORK_BYTES", 1)  # one row per chunk
    scores = np.zeros((3, 2, 3))
    scores[2, 0, 1] = np.nan
    with pytest.raises(ValueError, match="member 0 of sample 2 has 1 NaN"):
        runoff_winner(scores)


# ---------------------------------------------------------------------------
# Properties on larger random ensembles


@st.composite
def ensembles(draw, max_k=10, max_d=4, max_classes=5):
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(2, max_k))
    n_members = k * d
    shifts = draw(
        st.lists(st.integers(0, n_members - 1), min_size=d, max_size=d, unique=True)
    )
    n_classes = draw(st.integers(2, max_classes))
    favourite = draw(st.integers(0, n_classes - 1))
    bias = draw(st.sampled_from([0.0, 0.5, 0.8]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n_members, n_classes, shifts, favourite, bias, seed


def _random_predictions(n_members, n_classes, favourite, bias, seed, n=1):
    rng = np.random.default_rng(seed)
    pred = rng.integers(-1, n_classes, size=(n, n_members))
    pred[rng.random((n, n_members)) < bias] = favourite
    return pred


def _random_scores(n_members, n_classes, favourite, bias, seed, n=1):
    rng = np.random.default_rng(seed)
    # Few distinct values: many ties between classes.
    scores = rng.integers(0, 3, size=(n, n_members, n_classes)).astype(float)
    scores[..., favourite] += rng.random((n, n_members)) < bias
    scores[rng.random((n, n_members)) < 0.1] = np.nan
    scores[rng.random((n, n_members, n_classes)) < 0.05] = -np.inf
    # -inf must not sit in an abstaining (all-NaN) row.
    abstain = np.isnan(scores).any(axis=2)
    scores[abstain] = np.nan
    return scores


@settings(max_examples=40, deadline=None)
@given(ensembles())
def test_plurality_radius_below_every_attack_found(ensemble):
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    pred = _random_predictions(n_members, n_classes, favourite, bias, seed)
    game = Game("plurality", n_classes)
    outputs = [None if o < 0 else int(o) for o in pred[0]]
    size = smallest_greedy_attack(game, outputs, shifts)
    winner, radius = plurality_certify(pred, n_classes, shifts)
    assert size is not None and radius[0] < size
    assert radius[0] >= published_fa_radius(list(pred[0]), n_classes, shifts)


@settings(max_examples=40, deadline=None)
@given(ensembles())
def test_runoff_radius_below_every_attack_found(ensemble):
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    scores = _random_scores(n_members, n_classes, favourite, bias, seed)
    game = Game("runoff", n_classes)
    outputs = [ranking(v) for v in scores[0].tolist()]
    size = smallest_greedy_attack(game, outputs, shifts)
    winner, radius, targeted = runoff_certify(scores, shifts, per_class=True)
    assert winner[0] == runoff(outputs, n_classes)
    assert size is not None and 0 <= radius[0] < size
    assert targeted[0, winner[0]] == -1
    assert radius[0] == np.delete(targeted[0], winner[0]).min()


@settings(max_examples=60, deadline=None)
@given(ensembles(max_k=40, max_d=1, max_classes=6))
def test_dpa_runoff_never_below_published(ensemble):
    n_members, n_classes, _, favourite, bias, seed = ensemble
    scores = _random_scores(n_members, n_classes, favourite, bias, seed, n=3)
    radius = runoff_certify(scores)[1]
    for i in range(3):
        outputs = [ranking(v) for v in scores[i].tolist()]
        assert radius[i] >= published_roe_radius(outputs, n_classes)


def _relabellings(n_members, shifts, rng):
    """Member relabellings that map the bucket structure onto itself.

    Member j -> (u * j + t) mod M with u a unit mod M sends the members fed by
    bucket b (b + S) to those fed by bucket u * b + t under shifts u * S; the
    shifts can also all move by a constant (it only renames buckets).
    """
    units = [u for u in range(1, n_members) if math.gcd(u, n_members) == 1] or [1]
    u = int(rng.choice(units))
    t = int(rng.integers(n_members))
    perm = np.empty(n_members, dtype=int)
    perm[(u * np.arange(n_members) + t) % n_members] = np.arange(n_members)
    offset = int(rng.integers(n_members))
    new_shifts = sorted((u * s + offset) % n_members for s in shifts)
    return perm, new_shifts


@settings(max_examples=40, deadline=None)
@given(ensembles(max_k=12, max_d=4, max_classes=4))
def test_certificates_invariant_under_relabelling(ensemble):
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    rng = np.random.default_rng(seed)
    perm, new_shifts = _relabellings(n_members, shifts, rng)
    pred = _random_predictions(n_members, n_classes, favourite, bias, seed, n=4)
    before = plurality_certify(pred, n_classes, shifts, per_class=True)
    after = plurality_certify(pred[:, perm], n_classes, new_shifts, per_class=True)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)
    scores = _random_scores(n_members, n_classes, favourite, bias, seed, n=4)
    before = runoff_certify(scores, shifts, per_class=True)
    after = runoff_certify(scores[:, perm], new_shifts, per_class=True)
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(ensembles(max_k=30, max_d=1, max_classes=6))
def test_dpa_paths_agree(ensemble):
    """d = 1: Theorem 1, the bucket rule from counts and from bucket sums."""
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    pred = _random_predictions(n_members, n_classes, favourite, bias, seed, n=6)
    shifts = np.asarray(shifts)
    votes = np.stack([(pred == c).sum(axis=1) for c in range(n_classes)], axis=1)
    expected = certified_radius(votes)
    for path in ("theorem", "members", "buckets"):
        w, r, t = certify._plurality(pred, n_classes, shifts, True, path=path)
        assert np.array_equal(r, expected), path
        if path == "theorem":
            exact = t
        else:
            assert np.all(t <= exact)  # sound per class; d = 1 theorem is exact
    scores = _random_scores(n_members, n_classes, favourite, bias, seed, n=6)
    a = certify._runoff(scores, shifts, True, path="members")
    b = certify._runoff(scores, shifts, True, path="buckets")
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@settings(max_examples=20, deadline=None)
@given(ensembles(max_k=8, max_d=3, max_classes=4))
def test_chunking_does_not_change_results(ensemble):
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    pred = _random_predictions(n_members, n_classes, favourite, bias, seed, n=7)
    scores = _random_scores(n_members, n_classes, favourite, bias, seed, n=7)
    whole = (
        plurality_certify(pred, n_classes, shifts, per_class=True),
        runoff_certify(scores, shifts, per_class=True),
    )
    saved = certify._WORK_BYTES
    certify._WORK_BYTES = 1  # one row per chunk, one column block at a time
    try:
        chunked = (
            plurality_certify(pred, n_classes, shifts, per_class=True),
            runoff_certify(scores, shifts, per_class=True),
        )
    finally:
        certify._WORK_BYTES = saved
    for a, b in zip(whole, chunked, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)


@settings(max_examples=40, deadline=None)
@given(ensembles(max_k=12, max_d=4, max_classes=5))
def test_per_class_flag_keeps_the_radius(ensemble):
    """Pruned (per_class=False) and full computations give the same radius."""
    n_members, n_classes, shifts, favourite, bias, seed = ensemble
    pred = _random_predictions(n_members, n_classes, favourite, bias, seed, n=5)
    w1, r1 = plurality_certify(pred, n_classes, shifts)
    w2, r2, t2 = plurality_certify(pred, n_classes, shifts, per_class=True)
    assert np.array_equal(w1, w2) and np.array_equal(r1, r2)
    assert np.all(t2[np.arange(5), w2] == -1)
    scores = _random_scores(n_members, n_classes, favourite, bias, seed, n=5)
    w1, r1 = runoff_certify(scores, shifts)
    w2, r2, t2 = runoff_certify(scores, shifts, per_class=True)
    assert np.array_equal(w1, w2) and np.array_equal(r1, r2)
    assert np.all((r2 >= 0) & (r2 < n_members))
