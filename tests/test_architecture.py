"""The package's shape: the fit plan is a value, members' facts are a leaf,
and no two modules import each other (directly or through others)."""

import ast
import pathlib

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import SelfTrainingClassifier

import skdpa
import skdpa._regression
from skdpa import DPAClassifier, DPARegressor, SSDPAClassifier, SSDPARegressor
from skdpa._ensemble import (
    EmbeddingPartitionMixin,
    HashPartitionMixin,
    PartitionEnsemble,
)
from skdpa._fingerprint import row_digests
from skdpa._partition import Partition, partition
from skdpa._plan import build_plan, member_seeds
from skdpa._rules import RULES, make_rule

SRC = pathlib.Path(skdpa.__file__).parent


def _module_name(path):
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path, name):
    """skdpa modules imported anywhere in a file (function bodies included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("skdpa"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(
                    sub
                    if (SRC.parent / (sub.replace(".", "/") + ".py")).exists()
                    or (SRC.parent / sub.replace(".", "/")).is_dir()
                    else target
                )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("skdpa"))
    return found


def _graph():
    graph = {}
    for path in SRC.rglob("*.py"):
        name = _module_name(path)
        graph[name] = _imports(path, name)
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    graph = _graph()
    # The top package's __init__ gathers every public name; no module reaches
    # it (``from . import certify`` names a sibling module), and it is left
    # out. ``skdpa.torch`` stays: importing from it runs its __init__.
    graph.pop("skdpa", None)
    assert _cycles(graph) == []
    # the torch subpackage reaches the core's leaf facts, never the engine
    assert "skdpa._engine" not in set().union(
        *(deps for name, deps in graph.items() if name.startswith("skdpa.torch"))
    )


def test_the_cycle_finder_has_teeth():
    graph = _graph()
    graph.pop("skdpa", None)
    # 0.2's shape: the engine imported skdpa.torch, which imported the engine
    graph["skdpa.torch._checks"] = graph["skdpa.torch._checks"] | {"skdpa._engine"}
    assert any("skdpa._engine" in c for c in _cycles(graph))


def test_members_module_is_a_leaf():
    graph = _graph()
    assert not {d for d in graph["skdpa._members"] if d.startswith("skdpa")}


def test_plan_is_a_value_built_without_fitting():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    y = np.array([0, 1, 1, 0, 1])
    part = partition(np.array([0, 1, 0, 1, 2]), np.arange(5), 4)
    assert isinstance(part, Partition)
    plan = build_plan(part, y, member_seeds(3, 4), *row_digests(X), {}, 5)
    assert plan.kinds == ("fit", "fit", "constant", "empty")
    assert plan.sizes.tolist() == [2, 2, 1, 0]
    assert plan.constants.tolist() == [-1, -1, 1, -1]
    # the same input gives the same fingerprints; one changed label changes
    # its member's fingerprint alone
    again = build_plan(part, y, member_seeds(3, 4), *row_digests(X), {}, 5)
    assert again.diff(plan.fingerprints).tolist() == [False] * 4
    flipped = y.copy()
    flipped[1] = 0
    changed = build_plan(part, flipped, member_seeds(3, 4), *row_digests(X), {}, 5)
    assert changed.diff(plan.fingerprints).tolist() == [False, True, False, False]
    # seeds are part of the input
    reseeded = build_plan(part, y, member_seeds(4, 4), *row_digests(X), {}, 5)
    assert reseeded.diff(plan.fingerprints).all()
    assert plan.diff(None).all() and plan.diff(plan.fingerprints[:2]).all()


def test_plan_matches_the_fitted_ensemble():
    X, y = load_iris(return_X_y=True)
    clf = DPAClassifier(LogisticRegression(), k=7, spread=2, random_state=0).fit(X, y)
    part = clf._partition(
        X, skdpa._hashing.content_hash(X), np.ones(len(y), bool), y.astype(np.int64), []
    )
    assert part.n_members == clf.n_members_ == 14
    for own, fitted in zip(part.rows, clf.estimators_samples_, strict=True):
        assert np.array_equal(own, fitted)
    assert np.array_equal(part.shifts, clf.shifts_)


def test_pass_unlabeled_partition_shares_rows():
    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[::3] = -1
    clf = SSDPAClassifier(k=4, pass_unlabeled=True)
    labeled = y != -1
    part = clf._partition(X, skdpa._hashing.content_hash(X), labeled, y, [])
    assert part.hides_labels() and len(part.shared_rows) == len(y)
    assert (
        sorted(np.concatenate(part.rows).tolist()) == np.flatnonzero(labeled).tolist()
    )
    assert all(part.fit_rows(j) is part.shared_rows for j in range(4))


@pytest.mark.parametrize("voting", sorted(RULES))
def test_rules_are_keyed_by_the_public_voting_strings(voting):
    rule = make_rule(voting, 3)
    assert rule.name == voting and rule.output in ("predict", "scores")
    voting_mask = np.ones(6, dtype=bool)
    out = rule.unanimous(voting_mask, 2)
    assert rule.winner(out).tolist() == [2]
    assert rule.votes(out).tolist() == [[0, 0, 6]]
    assert rule.max_radius(voting_mask) == 3
    # a new label that wins ties costs one vote where nobody else votes
    assert make_rule(voting, 3, new_label=True).max_radius(voting_mask) == 2


# -- one partition-ensemble base for classifiers and regressors ---------------

CLASSIFIER_MODULES = {"skdpa._base", "skdpa._dpa", "skdpa._ssdpa"}
CLASSIFIER_NAMES = {"BasePartitionEnsemble", "DPAClassifier", "SSDPAClassifier"}


def _classifier_reach(source, name="skdpa._regression"):
    """How a module's source reaches the classifiers: imports of their
    modules, and attributes read off their classes (``DPAClassifier._hash``
    kept in a dict and called later is such a reach)."""
    found = set()
    package = name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in CLASSIFIER_NAMES:
                found.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            target = f"{package}.{module}" if node.level == 1 else module
            if target in CLASSIFIER_MODULES:
                found.add(target)
            for alias in node.names:
                if f"{target}.{alias.name}" in CLASSIFIER_MODULES:
                    found.add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & CLASSIFIER_MODULES
    return found


def test_regression_reaches_no_classifier_private():
    source = (SRC / "_regression.py").read_text()
    assert _classifier_reach(source) == set()
    assert "_SHARED" not in source


def test_the_classifier_reach_check_has_teeth():
    # 0.3's shape: classifier methods kept in a dict and called on a regressor
    old = (
        "from ._base import BasePartitionEnsemble\n"
        "from ._dpa import DPAClassifier\n"
        "_SHARED = {'check_X': BasePartitionEnsemble._check_X,\n"
        "           'hash': DPAClassifier._hash}\n"
    )
    assert _classifier_reach(old) == {
        "skdpa._base",
        "skdpa._dpa",
        "BasePartitionEnsemble._check_X",
        "DPAClassifier._hash",
    }


@pytest.mark.parametrize(
    "cls", [skdpa._regression.BasePartitionRegressor, DPARegressor, SSDPARegressor]
)
def test_regressors_use_the_partition_hook(cls):
    # issue 15 replaced these hooks with one ``_partition`` returning a Partition
    for old_hook in ("_buckets", "_shifts", "_n_spread"):
        assert old_hook not in vars(cls)
    assert not hasattr(cls, "_buckets") and not hasattr(cls, "_shifts")
    assert issubclass(cls, PartitionEnsemble)
    assert "_fit" not in vars(cls)  # the one fit flow, up to the engine


@pytest.mark.parametrize(
    ("mixin", "classifier", "regressor", "params"),
    [
        (HashPartitionMixin, DPAClassifier, DPARegressor, {"k": 5, "spread": 2}),
        (
            EmbeddingPartitionMixin,
            SSDPAClassifier,
            SSDPARegressor,
            {"k": 4, "pass_unlabeled": False},
        ),
    ],
)
def test_classifier_and_regressor_of_a_kind_partition_alike(
    mixin, classifier, regressor, params
):
    # the same partitioner: the same rows per member from the same features
    # (SSDPAClassifier extends the mixin's _partition with cost-aware state)
    X, y = load_iris(return_X_y=True)
    assert regressor._partition is mixin._partition
    assert issubclass(classifier, mixin)
    clf = classifier(**params).fit(X, y)
    reg = regressor(**params).fit(X, y.astype(float))
    for a, b in zip(clf.estimators_samples_, reg.estimators_samples_, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(clf.shifts_, reg.shifts_)


def test_regression_plan_kinds_and_float_fingerprints():
    # one plan builder: regression members are "fit" or "empty" (no
    # single-class shortcut) and their fingerprints cover float targets
    # exactly (no int64 cast)
    X = np.array([[0.0], [1.0], [2.0]])
    part = partition(np.array([0, 0, 1]), np.arange(3), 3)
    y = np.array([1.0, 1.0, 2.0])

    def plan(target):
        return build_plan(
            part,
            target,
            member_seeds(None, 3),
            *row_digests(X),
            {},
            3,
            hidden=np.nan,
            constant_members=False,
        )

    assert plan(y).kinds == ("fit", "fit", "empty")
    nudged = y.copy()
    nudged[1] = 1.25  # the same after an int64 cast
    assert plan(nudged).diff(plan(y).fingerprints).tolist() == [True, False, False]


@pytest.fixture
def unit_sources(monkeypatch):
    """The row source each unit of work of the next fits receives, with the
    members it fits: a list of ``(source, indices)``."""
    import skdpa._engine as engine

    seen = []
    fit_batch = engine._fit_batch

    def spy(template, source, batch, *extra):
        seen.append((source, [task.index for task in batch]))
        return fit_batch(template, source, batch, *extra)

    monkeypatch.setattr(engine, "_fit_batch", spy)
    return seen


def _kinds(seen):
    return {type(source).__name__ for source, _ in seen}


def _fit_on_threads(clf, X, y, **params):
    """Fit with two workers in this process (the spy sees their units)."""
    import joblib

    with joblib.parallel_config(backend="threading"):
        return clf.set_params(n_jobs=2).fit(X, y, **params)


@pytest.mark.parametrize(
    "make, ships",
    [
        (lambda: DPAClassifier(LogisticRegression(), k=5, random_state=0), True),
        # every row fits two members: the units' rows are twice the data
        (lambda: DPAClassifier(LogisticRegression(), k=5, spread=2), False),
        (lambda: SSDPAClassifier(LogisticRegression(), k=5), True),
        # members fit on every row (unlabeled ones hidden): the shared source
        (
            lambda: SSDPAClassifier(
                SelfTrainingClassifier(LogisticRegression()), k=5, pass_unlabeled=True
            ),
            False,
        ),
    ],
)
def test_units_carry_their_own_rows_when_members_see_disjoint_rows(
    unit_sources, make, ships
):
    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[::4] = -1 if isinstance(make(), SSDPAClassifier) else y[::4]
    parallel = _fit_on_threads(make(), X, y)
    assert _kinds(unit_sources) == {"UnitRows" if ships else "ArraySource"}
    if ships:  # a unit holds its own members' data, nothing else
        for source, indices in unit_sources:
            assert source.indices == sorted(indices)
    # the members are those of the one-process fit, bit for bit
    alone = make().set_params(n_jobs=1).fit(X, y)
    for a, b in zip(parallel.estimators_, alone.estimators_, strict=True):
        a = getattr(a, "estimator_", a)
        b = getattr(b, "estimator_", b)
        assert np.array_equal(getattr(a, "coef_", 0), getattr(b, "coef_", 0))
    assert np.array_equal(parallel.predict_proba(X), alone.predict_proba(X))


class _TakesTable(LogisticRegression):
    """A member with a fit parameter every member gets whole."""

    def fit(self, X, y, table=None, sample_weight=None):
        self.table_total_ = None if table is None else float(np.sum(table))
        return super().fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize(
    "params, ships",
    [
        ({"sample_weight": "aligned"}, True),  # sliced per member
        ({"table": np.ones(10)}, True),  # small: travels with every unit
        ({"table": np.ones(2**18)}, False),  # 2 MiB every member gets whole
    ],
)
def test_units_keep_the_source_for_a_large_parameter_every_member_gets(
    unit_sources, params, ships
):
    X, y = load_iris(return_X_y=True)
    if params.get("sample_weight") == "aligned":
        params = {"sample_weight": np.linspace(1, 2, len(y))}
    clf = _fit_on_threads(DPAClassifier(_TakesTable(), k=5), X, y, **params)
    assert _kinds(unit_sources) == {"UnitRows" if ships else "ArraySource"}
    if "table" in params:  # every member got the whole table
        totals = {m.table_total_ for m in clf.estimators_ if hasattr(m, "coef_")}
        assert totals == {float(np.sum(params["table"]))}


def test_units_share_the_mapped_source_past_the_size_limit(monkeypatch, unit_sources):
    import scipy.sparse as sp

    import skdpa._engine as engine
    from skdpa._sources import ArraySource

    X, y = load_iris(return_X_y=True)

    def kinds(X_fit):
        unit_sources.clear()
        _fit_on_threads(DPAClassifier(LogisticRegression(), k=5), X_fit, y)
        return _kinds(unit_sources)

    assert kinds(X) == {"UnitRows"}  # 4.7 KiB of rows
    monkeypatch.setattr(engine, "_SHIP_BYTES", X.nbytes - 1)
    assert kinds(X) == {"ArraySource"}  # past the limit: memory-mapped
    assert kinds(sp.csr_matrix(X)) == {"ArraySource"}
    # rows loky would pickle whole into every unit: each unit its own, always
    assert kinds(X.astype(object)) == {"UnitRows"}
    # what is counted: the arrays loky maps, per row
    assert ArraySource(X, y, {}).mapped_bytes_per_row() == 32
    A = sp.csr_matrix(np.eye(150))
    assert ArraySource(A, y, {}).mapped_bytes_per_row() == (150 * 8 + 150 * 4) / 150
    assert ArraySource([["a"]] * 150, y, {}).mapped_bytes_per_row() is None
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X)
    assert ArraySource(frame, y, {}).mapped_bytes_per_row() == 32
    frame["name"] = "a"
    assert ArraySource(frame, y, {}).mapped_bytes_per_row() is None
