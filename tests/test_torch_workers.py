"""Torch members fit in worker processes: loky and dask, modules from ``__main__``.

Each scenario is a user script run as ``python script.py`` in its own process
group under a hard timeout: a regression that hangs fails the test (and its
workers are killed) instead of hanging the suite.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")

pytestmark = pytest.mark.torch

# Shared head of the scripts: modules at the top of __main__, a fitted member
# that can never be pickled, a module class no caller can name.
HEAD = textwrap.dedent(
    """
    import pickle
    import threading

    import joblib
    import numpy as np
    from skorch import NeuralNetClassifier
    from torch import nn

    from skdpa import DPAClassifier
    from skdpa.torch import make_skorch_member


    class ScriptBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 16)

        def forward(self, x):
            return self.linear(x.float()).relu()


    class ScriptNet(nn.Module):  # top level of __main__
        def __init__(self, num_classes=2):
            super().__init__()
            self.body = ScriptBlock()
            self.out = nn.Linear(16, num_classes)

        def forward(self, x):
            return self.out(self.body(x))


    class LockingNet(NeuralNetClassifier):  # a fitted member that never pickles
        def fit(self, X, y, **fit_params):
            super().fit(X, y, **fit_params)
            self.lock_ = threading.Lock()
            return self


    def local_module():
        class LocalNet(ScriptNet):  # defined in a function: no name reaches it
            pass

        return LocalNet


    def member(module, cls=None):
        if cls is None:
            return make_skorch_member(
                module, n_classes=3, n_classes_param="num_classes",
                standardize=False, max_epochs=2,
            )
        return cls(
            module, module__num_classes=3, criterion=nn.CrossEntropyLoss,
            train_split=None, max_epochs=2, verbose=0,
        )


    def data():
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        keep = np.isin(y, (1, 4, 7))
        return X[keep][:150].astype(np.float32) / 16, y[keep][:150]


    def fit(estimator, X, y, n_jobs, backend=None):
        clf = DPAClassifier(estimator, k=4, random_state=0, n_jobs=n_jobs)
        if backend is None:
            return clf.fit(X, y)
        with joblib.parallel_backend(backend):
            return clf.fit(X, y)


    def attempt(name, estimator, X, y, backend=None):
        try:
            fit(estimator, X, y, n_jobs=2, backend=backend)
            outcome = "fitted"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        print(name, "|", outcome.replace("\\n", " "), flush=True)
    """
)

LOKY = HEAD + textwrap.dedent(
    """
    if __name__ == "__main__":
        X, y = data()
        par = fit(member(ScriptNet), X, y, n_jobs=2)
        seq = fit(member(ScriptNet), X, y, n_jobs=1)
        assert all(type(m.module_) is ScriptNet for m in par.estimators_)
        assert type(par.estimators_[0].module_.body) is ScriptBlock
        assert (par.vote_counts(X) == seq.vote_counts(X)).all()
        restored = pickle.loads(pickle.dumps(par))
        assert (restored.vote_counts(X) == par.vote_counts(X)).all()
        print("same votes |", int(par.vote_counts(X).sum()), flush=True)

        FirstNet = ScriptNet

        class ScriptNet(FirstNet):  # redefined, as in a notebook; workers reused
            pass

        again = fit(member(ScriptNet), X, y, n_jobs=2)
        assert all(type(m.module_) is ScriptNet for m in again.estimators_)
        print("redefined |", int(again.vote_counts(X).sum()), flush=True)

        class GuardedNet(FirstNet):  # under the main guard: fine for loky
            pass

        attempt("guarded", member(GuardedNet), X, y)
        attempt("local", member(local_module()), X, y)
    """
)

DASK = HEAD + textwrap.dedent(
    """
    if __name__ == "__main__":
        from distributed import Client, LocalCluster

        class GuardedNet(ScriptNet):  # under the main guard: dask's workers
            pass                      # never define it

        X, y = data()
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, Client(cluster):
            par = fit(member(ScriptNet), X, y, n_jobs=2, backend="dask")
            seq = fit(member(ScriptNet), X, y, n_jobs=1)
            assert all(type(m.module_) is ScriptNet for m in par.estimators_)
            assert (par.vote_counts(X) == seq.vote_counts(X)).all()
            print("same votes |", int(par.vote_counts(X).sum()), flush=True)
            attempt("guarded", member(GuardedNet), X, y, backend="dask")
            attempt("local", member(local_module()), X, y, backend="dask")
            attempt("lock", member(ScriptNet, LockingNet), X, y, backend="dask")
    """
)


def _run_script(tmp_path, source, timeout):
    """Run ``source`` as ``python script.py``; kill its whole group on timeout."""
    script = tmp_path / "user_script.py"
    script.write_text(source)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung, killed after {timeout} s:\n{out}\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    results = {}
    for line in out.splitlines():
        name, _, outcome = line.partition(" | ")
        results[name] = outcome
    return results


def test_loky_workers_fit_main_modules_and_name_the_unreachable(tmp_path):
    results = _run_script(tmp_path, LOKY, timeout=300)
    assert results["same votes"] == str(4 * 150)
    assert results["redefined"] == str(4 * 150)
    assert results["guarded"] == "fitted"
    local = results["local"]
    assert local.startswith("PicklingError: The member uses the class ")
    assert "local_module.<locals>.LocalNet is defined inside a function" in local
    assert "importable file" in local


@pytest.mark.slow
def test_dask_workers_fit_main_modules_or_fail_fast(tmp_path):
    pytest.importorskip("distributed")
    results = _run_script(tmp_path, DASK, timeout=300)
    assert results["same votes"] == str(4 * 150)
    # the caller can name it, the workers cannot: they say so
    guarded = results["guarded"]
    assert guarded.startswith(
        "PicklingError: The fitted member (NeuralNetClassifier) cannot be sent "
        "back from this dask worker: PicklingError: Can't pickle <class "
        "'__main__.GuardedNet'>"
    ), guarded
    assert "at the top level of an importable file" in guarded
    # nobody can name it: the caller stops before sending anything
    local = results["local"]
    assert local.startswith("PicklingError: The member uses the class ")
    assert "local_module.<locals>.LocalNet is defined inside a function" in local
    lock = results["lock"]
    assert "(LockingNet) cannot be sent back from this dask worker" in lock
    assert "cannot pickle '_thread.lock' object" in lock
