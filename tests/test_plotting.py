"""Tests for skdpa.plotting.CertifiedAccuracyDisplay."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from skdpa import DPAClassifier, SSDPAClassifier  # noqa: E402
from skdpa.metrics import certified_accuracy  # noqa: E402
from skdpa.plotting import CertifiedAccuracyDisplay  # noqa: E402

Y_TRUE = [0, 1, 1, 0]
Y_PRED = [0, 1, 0, 0]
RADIUS = [3, 1, 5, 0]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


DIGITS_SPLIT = {"test": (900, 1200)}  # the digits_split fixture (conftest.py)


def test_from_predictions_values_and_artists():
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, label="k=10"
    )
    # Budgets run from 0 to one past the largest radius of a correct sample
    # (3; the wrong sample's radius 5 does not extend the curve).
    np.testing.assert_array_equal(display.budgets, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(
        display.certified_accuracy, [0.75, 0.5, 0.25, 0.25, 0.0]
    )
    assert display.clean_accuracy == 0.75

    line = display.line_
    np.testing.assert_array_equal(line.get_xdata(), display.budgets)
    np.testing.assert_array_equal(line.get_ydata(), display.certified_accuracy)
    assert line.get_drawstyle() == "steps-post"
    assert line.get_label() == "k=10"

    clean = display.clean_accuracy_line_
    assert clean.get_linestyle() == "--"
    np.testing.assert_array_equal(clean.get_ydata(), [0.75, 0.75])
    assert same_color(clean.get_color(), line.get_color())

    assert display.ax_.get_ylabel() == "Certified accuracy"
    assert display.ax_.get_xlabel() == "Attack size (poisoned training samples)"
    assert display.figure_ is display.ax_.figure
    legend = display.ax_.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["k=10"]


def test_from_predictions_nothing_correct():
    display = CertifiedAccuracyDisplay.from_predictions([0, 0], [1, 1], [4, 4])
    np.testing.assert_array_equal(display.budgets, [0, 1])
    np.testing.assert_array_equal(display.certified_accuracy, [0.0, 0.0])
    # No label, no legend.
    assert display.ax_.get_legend() is None


def test_plot_options():
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE,
        Y_PRED,
        RADIUS,
        plot_clean_accuracy=False,
        color="tab:red",
        linewidth=3,
    )
    assert display.clean_accuracy_line_ is None
    assert same_color(display.line_.get_color(), "tab:red")
    assert display.line_.get_linewidth() == 3
    assert len(display.ax_.lines) == 1

    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, clean_accuracy_kw={"color": "k", "linestyle": ":"}
    )
    assert same_color(display.clean_accuracy_line_.get_color(), "k")
    assert display.clean_accuracy_line_.get_linestyle() == ":"


def test_constructor_stores_and_plot_draws():
    display = CertifiedAccuracyDisplay(
        budgets=np.array([0, 1, 2]),
        certified_accuracy=np.array([0.9, 0.4, 0.0]),
        clean_accuracy=0.9,
        name="stored",
        xlabel="Attack size (label flips)",
    )
    assert not hasattr(display, "line_")
    assert display.name == "stored"
    fig, ax = plt.subplots()
    assert display.plot(ax=ax) is display
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.line_.get_label() == "stored"
    assert ax.get_xlabel() == "Attack size (label flips)"
    # plot(name=...) overrides the stored name; matplotlib's label= wins over both.
    display.plot(ax=ax, name="again")
    assert display.line_.get_label() == "again"
    display.plot(ax=ax, name="ignored", label="matplotlib's")
    assert display.line_.get_label() == "matplotlib's"
    assert display.name == "stored"


def test_several_displays_on_one_axes():
    fig, ax = plt.subplots()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    labels = []
    for k in (10, 20, 40):
        radius = rng.integers(0, k // 2 + 1, 40)
        d = CertifiedAccuracyDisplay.from_predictions(
            y, y, radius, label=f"k={k}", ax=ax
        )
        labels.append(d.line_.get_label())
        assert d.ax_ is ax
    # Three curves and three dashed lines, each pair sharing a colour.
    assert len(ax.lines) == 6
    colors = [line.get_color() for line in ax.lines]
    assert same_color(colors[0], colors[1]) and not same_color(colors[0], colors[2])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    # The x range grows with each curve and starts at budget 0.
    left, right = ax.get_xlim()
    assert left == 0
    assert right >= max(line.get_xdata()[-1] for line in ax.lines[::2])


def test_from_estimator_dpa(digits_split):
    X_train, y_train, X_test, y_test = digits_split
    clf = DPAClassifier(k=8, random_state=0).fit(X_train, y_train)
    display = CertifiedAccuracyDisplay.from_estimator(clf, X_test, y_test)
    y_pred, radius = clf.predict_certified(X_test)
    np.testing.assert_array_equal(
        display.certified_accuracy,
        certified_accuracy(y_test, y_pred, radius, display.budgets),
    )
    assert display.line_.get_label() == "DPAClassifier (k=8)"
    assert display.ax_.get_xlabel() == (
        "Attack size (training samples inserted, removed or relabelled)"
    )
    assert display.budgets[-1] <= clf.certificate_.max_radius + 1


def test_from_estimator_ssdpa_label_and_axes(digits_split):
    X_train, y_train, X_test, y_test = digits_split
    clf = SSDPAClassifier(
        KNeighborsClassifier(1), k=6, embedding=PCA(10, random_state=0)
    ).fit(X_train, y_train)
    fig, ax = plt.subplots()
    display = CertifiedAccuracyDisplay.from_estimator(
        clf, X_test, y_test, ax=ax, label="SS-DPA"
    )
    assert display.ax_ is ax
    assert display.line_.get_label() == "SS-DPA"
    assert ax.get_xlabel() == "Attack size (training labels flipped)"


def test_from_estimator_needs_predict_certified(digits_split):
    X_train, y_train, X_test, y_test = digits_split
    knn = KNeighborsClassifier().fit(X_train, y_train)
    with pytest.raises(TypeError, match="must have a predict_certified.*KNeighbors"):
        CertifiedAccuracyDisplay.from_estimator(knn, X_test, y_test)


def test_from_predictions_validates_inputs():
    with pytest.raises(ValueError, match=r"radius must be >= 0.*minimum of -2"):
        CertifiedAccuracyDisplay.from_predictions([0, 1], [0, 1], [1, -2])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CertifiedAccuracyDisplay.from_predictions([0, 1], [0], [1, 1])


def test_renders_png(tmp_path, digits_split):
    X_train, y_train, X_test, y_test = digits_split
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in (4, 16):
        clf = DPAClassifier(k=k, random_state=0).fit(X_train, y_train)
        CertifiedAccuracyDisplay.from_estimator(clf, X_test, y_test, ax=ax)
    path = tmp_path / "certified_accuracy.png"
    fig.savefig(path, dpi=60)
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    image = plt.imread(path)
    assert image.shape[:2] == (240, 360)
    # Something besides the white background was drawn.
    assert (image[..., :3] < 0.9).any()


def test_missing_matplotlib_message(monkeypatch):
    display = CertifiedAccuracyDisplay(
        budgets=np.array([0, 1]),
        certified_accuracy=np.array([1.0, 0.0]),
        clean_accuracy=1.0,
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"requires matplotlib.*scikit-dpa\[plot\]"):
        display.plot()


def test_import_does_not_import_matplotlib():
    code = (
        "import sys, skdpa.plotting, skdpa.metrics; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_name_is_the_legend_entry_everywhere(digits_split):
    X_train, y_train, X_test, y_test = digits_split
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, name="stored predictions"
    )
    assert display.name == "stored predictions"
    assert display.line_.get_label() == "stored predictions"
    legend = display.ax_.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["stored predictions"]

    clf = DPAClassifier(k=5, random_state=0).fit(X_train, y_train)
    display = CertifiedAccuracyDisplay.from_estimator(
        clf, X_test, y_test, name="my DPA"
    )
    assert display.name == "my DPA"
    assert display.line_.get_label() == "my DPA"
    # label= is matplotlib's keyword: it still works and wins over name, as in
    # the curve_kwargs of scikit-learn's displays.
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, name="ignored", label="k=10"
    )
    assert display.line_.get_label() == "k=10"
    # A matplotlib "hidden" label draws no legend.
    display = CertifiedAccuracyDisplay.from_predictions(
        Y_TRUE, Y_PRED, RADIUS, label="_hidden"
    )
    assert display.ax_.get_legend() is None


def test_constructor_label_is_deprecated():
    values = dict(
        budgets=np.array([0, 1]),
        certified_accuracy=np.array([1.0, 0.0]),
        clean_accuracy=1.0,
    )
    with pytest.warns(FutureWarning, match=r"label parameter .* renamed name in 0\.2"):
        display = CertifiedAccuracyDisplay(**values, label="old")
    assert display.name == "old"
    assert display.plot().line_.get_label() == "old"
    with pytest.raises(ValueError, match=r"Pass only name.*name='new'.*label='old'"):
        CertifiedAccuracyDisplay(**values, name="new", label="old")


class _StatedCertificate:
    """A classifier outside skdpa that states its certificate (duck typing)."""

    def __init__(self, unit):
        from types import SimpleNamespace

        self.certificate_ = SimpleNamespace(
            attack_unit=unit, k=7, spread=1, rule="plurality"
        )

    def predict_certified(self, X):
        n = len(X)
        return np.zeros(n, dtype=int), np.arange(n)


def test_xlabel_comes_from_the_certificate():
    X = np.zeros((6, 2))
    display = CertifiedAccuracyDisplay.from_estimator(
        _StatedCertificate("poisoned widgets"), X, np.zeros(6, dtype=int)
    )
    assert display.ax_.get_xlabel() == "Attack size (poisoned widgets)"
    assert display.line_.get_label() == "_StatedCertificate (k=7)"

    class NoCertificate:
        def predict_certified(self, X):
            return np.zeros(len(X), dtype=int), np.ones(len(X), dtype=int)

    display = CertifiedAccuracyDisplay.from_estimator(
        NoCertificate(), X, np.zeros(6, dtype=int)
    )
    assert display.ax_.get_xlabel() == "Attack size (poisoned training samples)"
    assert display.line_.get_label() == "NoCertificate"


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"k": 6}, "DPAClassifier (k=6)"),
        ({"k": 6, "spread": 3}, "DPAClassifier (k=6, spread=3)"),
        ({"k": 6, "voting": "runoff"}, "DPAClassifier (k=6, run-off)"),
        (
            {"k": 6, "spread": 2, "voting": "runoff"},
            "DPAClassifier (k=6, spread=2, run-off)",
        ),
    ],
)
def test_from_estimator_default_name_states_the_rule(digits_split, params, expected):
    X_train, y_train, X_test, y_test = digits_split
    clf = DPAClassifier(**params, random_state=0).fit(X_train, y_train)
    display = CertifiedAccuracyDisplay.from_estimator(clf, X_test, y_test)
    assert display.line_.get_label() == expected
    assert display.ax_.get_xlabel() == (f"Attack size ({clf.certificate_.attack_unit})")
    y_pred, radius = clf.predict_certified(X_test)
    np.testing.assert_array_equal(
        display.certified_accuracy,
        certified_accuracy(y_test, y_pred, radius, display.budgets),
    )


def test_ssdpa_runoff_axis_and_name(digits_split):
    X_train, y_train, X_test, y_test = digits_split
    clf = SSDPAClassifier(
        KNeighborsClassifier(1), k=6, voting="runoff", embedding=PCA(5, random_state=0)
    ).fit(X_train, y_train)
    display = CertifiedAccuracyDisplay.from_estimator(clf, X_test, y_test)
    assert display.line_.get_label() == "SSDPAClassifier (k=6, run-off)"
    assert display.ax_.get_xlabel() == "Attack size (training labels flipped)"


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 30)),
        min_size=1,
        max_size=40,
    )
)
def test_curve_matches_certified_accuracy(data):
    y_true, y_pred, radius = (np.array(column) for column in zip(*data, strict=True))
    display = CertifiedAccuracyDisplay.from_predictions(y_true, y_pred, radius)
    plt.close(display.figure_)
    expected = certified_accuracy(y_true, y_pred, radius, display.budgets)
    np.testing.assert_array_equal(display.certified_accuracy, expected)
    assert display.budgets[0] == 0
    assert display.certified_accuracy[-1] == 0  # the curve always reaches 0
    assert np.all(np.diff(display.certified_accuracy) <= 0)  # never rises
    assert display.clean_accuracy == np.mean(y_true == y_pred)


def test_from_estimator_through_pipeline_and_search(digits_split):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skdpa.metrics import make_certified_scorer

    X_train, y_train, X_test, y_test = digits_split
    pipe = make_pipeline(
        FunctionTransformer(np.sqrt), DPAClassifier(k=8, random_state=0)
    ).fit(X_train, y_train)
    display = CertifiedAccuracyDisplay.from_estimator(pipe, X_test, y_test)
    # the last step certifies the transformed rows
    y_pred, radius = pipe[-1].predict_certified(np.sqrt(X_test))
    np.testing.assert_array_equal(
        display.certified_accuracy,
        certified_accuracy(y_test, y_pred, radius, display.budgets),
    )
    assert display.line_.get_label() == "DPAClassifier (k=8)"
    assert display.ax_.get_xlabel().startswith("Attack size (training samples")

    search = GridSearchCV(
        make_pipeline(FunctionTransformer(np.sqrt), DPAClassifier(random_state=0)),
        {"dpaclassifier__k": [2, 8]},
        scoring=make_certified_scorer(2),
        cv=2,
    ).fit(X_train, y_train)
    assert search.best_params_ == {"dpaclassifier__k": 8}
    from_search = CertifiedAccuracyDisplay.from_estimator(search, X_test, y_test)
    np.testing.assert_array_equal(
        from_search.certified_accuracy, display.certified_accuracy
    )
    assert from_search.line_.get_label() == "DPAClassifier (k=8)"
