"""The benchmark harness (benchmarks/_harness.py) and the scripts that use it."""

import ast
import doctest
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _harness  # noqa: E402
from _harness import (  # noqa: E402
    Run,
    Table,
    Times,
    interleaved,
    ratio,
    write_json,
)

SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
# what the harness owns: a script that defines one of these keeps a private copy
HARNESS_NAMES = {
    "cpu_seconds",
    "timed",
    "_timed",
    "interleaved",
    "best_of",
    "load_avg",
    "load_average",
    "describe_machine",
    "autogroup_scheduling",
    "Times",
    "Table",
    "print_rows",
    "row_time",
    "row_ratio",
}


def test_harness_docstring_examples():
    result = doctest.testmod(
        _harness, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    assert result.attempted > 20
    assert result.failed == 0


_LIVE_WORKER_CHECK = """
import resource, subprocess, sys
sys.path.insert(0, sys.argv[1])
from _harness import cpu_seconds

# The child burns 0.5 s of its own CPU, says so, then stays alive. It is read
# against 0.4 s: the kernel counts in clock ticks, and this process's own
# share is read once from /proc (ticks) and once from getrusage, so a reading
# may fall a few ticks short of what the child used.
burn = (
    "import sys, time\\n"
    "t = time.process_time()\\n"
    "while time.process_time() - t < 0.5: pass\\n"
    "print('burnt', flush=True)\\n"
    "time.sleep(60)\\n"
)


def own():  # this process alone: what the child adds is the rest
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


before, own_before = cpu_seconds(), own()
child = subprocess.Popen(
    [sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True
)
try:
    assert child.stdout.readline().strip() == "burnt"
    alive = cpu_seconds() - before - (own() - own_before)
    assert child.poll() is None, "the child ended before its CPU was read"
    assert alive >= 0.4, alive  # read as a live descendant
finally:
    child.kill()
    child.wait()
# once waited for, its CPU moves to this process's children counters
assert cpu_seconds() - before - (own() - own_before) >= alive - 0.05
"""


@pytest.mark.skipif(_harness.psutil is None, reason="needs psutil")
def test_cpu_seconds_counts_a_live_worker_and_keeps_it_once_waited_for():
    # A child that burns CPU, then stays alive, like a loky worker between
    # calls. Checked in a fresh process: in the test process, workers left by
    # other tests (loky's, dask's) may exit meanwhile and take their CPU with
    # them from the live descendants.
    result = subprocess.run(
        [sys.executable, "-c", _LIVE_WORKER_CHECK, str(BENCHMARKS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_interleaved_rotates_the_order_and_records_cpu():
    calls = []
    times, results = interleaved(
        {name: (lambda n=name: calls.append(n) or n) for name in "abc"}, repeats=3
    )
    assert calls == list("abcbcacab")
    assert results == {"a": "a", "b": "b", "c": "c"}
    for t in times.values():
        assert len(t) == len(t.cpu) == 3
        assert all(w >= 0 for w in t)


def test_ratio_best_and_per_repeat():
    r = ratio([3.0, 1.0, 2.0], [1.0, 1.0, 4.0])
    assert r.best == 1.0  # best time / best time
    assert (r.median, r.low, r.high) == (1.0, 0.5, 3.0)
    with pytest.raises(ValueError, match="shorter|longer"):
        ratio([1.0], [1.0, 2.0])


def test_table_goal_verdicts_and_records():
    table = Table()
    table.time("loop", Times([1.0, 3.0, 2.0], [1.0, 2.0, 1.0]))
    best = table.ratio(
        "ours / loop", [1.3, 1.4], [1.0, 1.0], "<= 1.15", lambda r: r <= 1.15
    )
    assert best == pytest.approx(1.3)
    table.note("ART", "not installed")
    records = table.records
    assert records[0]["wall_s"] == [1.0, 3.0, 2.0]
    assert records[0]["cpu_s"] == [1.0, 2.0, 1.0]
    assert records[1]["ratio_range"] == [pytest.approx(1.3), pytest.approx(1.4)]
    assert records[1]["met"] is False
    assert records[2] == {"measurement": "ART", "note": "not installed"}
    cells = table.rows
    assert cells[0][1:4] == ("1.000 s", "2.000 s", "3.000 s")
    assert cells[0][5] == "0.67"  # CPU/wall: median of 1.0, 0.67, 0.5
    assert cells[1][6:] == ("<= 1.15", "NOT met")


def test_run_record_holds_the_run(tmp_path, capsys):
    run = Run("bench_demo.py", {"quick": True}, results_dir=tmp_path)
    run.header("extra line")
    out = capsys.readouterr().out
    assert out.startswith("bench_demo  ")
    assert "extra line" in out and "load average" in out and "versions:" in out
    path = run.save({"fit_s": 0.5})
    assert path.parent == tmp_path / "bench_demo"
    assert not list(tmp_path.rglob("*.tmp"))
    record = json.loads(path.read_text())
    assert record["results"] == {"fit_s": 0.5}
    assert record["options"] == {"quick": True}
    for key in ("command", "machine", "load_start", "load_end", "wall_s", "cpu_s"):
        assert key in record
    assert record["peak_rss_mib"] > 0
    assert "record: " in capsys.readouterr().out


def test_write_json_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="cannot write object to JSON"):
        write_json(tmp_path / "x.json", {"x": object()})


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_uses_the_harness(script):
    tree = ast.parse((BENCHMARKS / script).read_text())
    imports = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert "_harness" in imports
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    assert not defined & HARNESS_NAMES, f"{script} keeps a private copy"


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_answers_help(script, capsys):
    source = (BENCHMARKS / script).read_text()
    if "\nimport torch" in source:
        pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(
        f"benchmark_{Path(script).stem}", BENCHMARKS / script
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")
