"""The one measuring harness of the scripts in ``benchmarks/``.

Every script times, describes its machine and writes its results through this
module, so that a figure means the same thing in every script:

wall seconds
    :func:`time.perf_counter` around one call, after a :func:`gc.collect`
    that is not timed.
CPU seconds
    user + system CPU time of this process and of every process below it:
    its live descendants (joblib's loky workers, read with ``psutil``) and
    the children that exited and were waited for (``getrusage``'s
    ``RUSAGE_CHILDREN``), each read as the difference of two readings. A
    process started and ended within one call without being waited for by
    this one is missed. Without ``psutil`` only this process and its waited
    children count (``CPU_SOURCE`` says which; the machine header prints it).
    The kernel counts in clock ticks (10 ms on Linux), so the CPU seconds of
    a call shorter than about 0.1 s are coarse.
CPU/wall
    the median over the repeats of CPU seconds / wall seconds: 1.0 is one
    busy core, 2.0 two. On a shared machine it tells how many cores a call
    actually got.
ratio
    of two contenders timed in the same run, their calls interleaved in a
    rotating order so that load from other processes hits them alike:
    ``best`` is best time / best time, ``median`` and the range are over the
    per-repeat ratios.
load
    :func:`os.getloadavg` (1, 5 and 15 minutes), printed at the start, at
    each section and at the end.
peak RSS
    ``ru_maxrss`` of this process and of its largest waited-for child, MiB.

Result files follow one convention: ``benchmarks/results/`` (git-ignored)
holds, per script, ``<script>/<UTC time>.json``, a record of one run (the
command, machine, load, wall and CPU seconds, peak RSS and the script's own
results), written by :meth:`Run.save`; scripts that resume long runs keep
their stores there too, written with :func:`write_json` / :func:`write_csv`.

Examples
--------
>>> times, results = interleaved({"a": lambda: 1, "b": lambda: 2}, repeats=3)
>>> len(times["a"]), len(times["a"].cpu), results["b"]
(3, 3, 2)
>>> r = ratio([2.0, 4.0], [1.0, 1.0])
>>> r.best, r.median, (r.low, r.high)
(2.0, 3.0, (2.0, 4.0))
"""

import datetime
import gc
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the dev environment
    psutil = None

RESULTS = Path(__file__).resolve().parent / "results"
CPU_SOURCE = (
    "process + live descendants (psutil) + waited children"
    if psutil is not None
    else "process + waited children only (psutil missing: live workers not counted)"
)
# libraries reported in the machine header when the script has imported them
_LIBRARIES = (
    "numpy",
    "scipy",
    "sklearn",
    "joblib",
    "threadpoolctl",
    "pandas",
    "pyarrow",
    "dask",
    "torch",
    "skorch",
    "art",
    "matplotlib",
)
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "LOKY_MAX_CPU_COUNT",
)


# ---------------------------------------------------------------------------
# Readings


def cpu_seconds():
    """CPU seconds (user + system) used so far by this process tree.

    See the module docstring for what is counted.

    Examples
    --------
    >>> before = cpu_seconds()
    >>> _ = sum(i * i for i in range(200_000))
    >>> cpu_seconds() >= before
    True
    """
    if psutil is None:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # a worker that exited meanwhile
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def load_average():
    """``(1, 5, 15)``-minute load averages, or None where unavailable.

    Examples
    --------
    >>> len(load_average())
    3
    """
    try:
        return os.getloadavg()
    except OSError:
        return None


def format_load(load=None):
    """The load averages as ``"0.52 0.61 0.70"`` (now, when not given).

    Examples
    --------
    >>> format_load((1.0, 0.5, 0.25))
    '1.00 0.50 0.25'
    """
    load = load_average() if load is None else load
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def peak_rss_mib():
    """Peak resident memory, MiB: ``(this process, largest waited child)``.

    Examples
    --------
    >>> own, child = peak_rss_mib()
    >>> own > 0
    True
    """
    # ru_maxrss is KiB on Linux, bytes on macOS
    unit = 2**20 if sys.platform == "darwin" else 2**10
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit / 2**20
    return own, kids


# ---------------------------------------------------------------------------
# Timing


class Times(list):
    """Wall seconds of repeated calls (the list), with their CPU seconds.

    Examples
    --------
    >>> t = Times([2.0, 1.0, 4.0], cpu=[2.0, 2.0, 4.0])
    >>> t.best(), t.median(), t.cpu_median(), t.cpu_share()
    (1.0, 2.0, 2.0, 1.0)
    """

    def __init__(self, walls=(), cpu=()):
        super().__init__(walls)
        self.cpu = list(cpu)

    def best(self):
        return min(self)

    def median(self):
        return statistics.median(self)

    def cpu_median(self):
        return statistics.median(self.cpu)

    def cpu_share(self):
        """Median CPU seconds per wall second: 1.0 is one busy core."""
        return statistics.median(c / w for c, w in zip(self.cpu, self, strict=True))


def timed(fn):
    """``(wall seconds, CPU seconds, result)`` of one call of ``fn()``.

    Examples
    --------
    >>> wall, cpu, out = timed(lambda: "done")
    >>> out, wall >= 0
    ('done', True)
    """
    gc.collect()
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    return wall, cpu_seconds() - cpu, result


def rotation(names, rep):
    """The order of repeat ``rep``: ``names`` rotated left by ``rep``.

    Examples
    --------
    >>> rotation(["a", "b", "c"], 1)
    ['b', 'c', 'a']
    """
    names = list(names)
    shift = rep % len(names)
    return names[shift:] + names[:shift]


def interleaved(contenders, repeats, *, progress=False):
    """Time each named callable ``repeats`` times, rotating the order.

    Repeat ``r`` starts with contender ``r % len(contenders)``, so that load
    from other processes hits every contender alike.

    Parameters
    ----------
    contenders : dict of str to callable
        Called without arguments.
    repeats : int
        Calls of each contender.
    progress : bool, default=False
        Print each call's wall time as it ends.

    Returns
    -------
    times : dict of str to Times
    results : dict of str to object
        The last result of each contender.

    Examples
    --------
    >>> order = []
    >>> _ = interleaved({"a": lambda: order.append("a"),
    ...                  "b": lambda: order.append("b")}, repeats=2)
    >>> order
    ['a', 'b', 'b', 'a']
    """
    names = list(contenders)
    times = {name: Times() for name in names}
    results = {}
    for rep in range(repeats):
        for name in rotation(names, rep):
            wall, cpu, results[name] = timed(contenders[name])
            times[name].append(wall)
            times[name].cpu.append(cpu)
            if progress:
                print(f"    repeat {rep + 1}: {name:<28} {wall:7.2f} s", flush=True)
    return times, results


def best_of(fn, repeats):
    """``(Times, last result)`` of ``repeats`` calls of one callable.

    Examples
    --------
    >>> times, out = best_of(lambda: 3, repeats=2)
    >>> len(times), out
    (2, 3)
    """
    times, results = interleaved({"fn": fn}, repeats)
    return times["fn"], results["fn"]


@dataclass
class Ratio:
    """``num / den`` of two contenders timed in the same run."""

    best: float  # best time / best time
    median: float  # median of the per-repeat ratios
    low: float
    high: float


def ratio(num, den):
    """The ratio of two lists of per-repeat seconds (see :class:`Ratio`).

    Examples
    --------
    >>> ratio([3.0, 2.0], [1.0, 2.0]).best
    2.0
    """
    per = [a / b for a, b in zip(num, den, strict=True)]
    return Ratio(min(num) / min(den), statistics.median(per), min(per), max(per))


# ---------------------------------------------------------------------------
# Printing


def print_times(
    times, baselines=None, *, title=None, cpu=True, median_ratio=True, digits=3
):
    """One line per contender: best and median seconds, CPU/wall, ratios.

    Parameters
    ----------
    times : dict of str to Times
    baselines : dict of str to str, optional
        ``{column: baseline contender}``: a column of best time / the
        baseline's best time per entry, all measured in the same run.
    title : str, optional
        Printed above the table.
    cpu : bool, default=True
        Print the CPU/wall column.
    median_ratio : bool, default=True
        Also print the median per-repeat ratio to the first baseline.
    digits : int, default=3
        Decimals of the seconds.

    Examples
    --------
    >>> times = {"base": Times([1.0, 2.0], [1.0, 2.0]),
    ...          "new": Times([2.0, 3.0], [2.0, 3.0])}
    >>> print_times(times, {"/ base": "base"}, median_ratio=False)
      contender  best s  median s  CPU/wall  / base
      base        1.000     1.500      1.00    1.00
      new         2.000     2.500      1.00    2.00
    """
    baselines = baselines or {}
    if title:
        print(f"\n{title}")
    width = max(len("contender"), *map(len, times))
    w = max(6, digits + 3)
    head = f"  {'contender':<{width}}  {'best s':>{w}}  {'median s':>{w + 2}}"
    if cpu:
        head += f"  {'CPU/wall':>8}"
    for column in baselines:
        head += f"  {column:>{max(6, len(column))}}"
    first = next(iter(baselines.values()), None)
    if median_ratio and first is not None:
        head += f"  {'median ratio':>12}"
    print(head)
    for name, t in times.items():
        line = (
            f"  {name:<{width}}  {t.best():{w}.{digits}f}  "
            f"{t.median():{w + 2}.{digits}f}"
        )
        if cpu:
            line += f"  {t.cpu_share():8.2f}"
        for column, base in baselines.items():
            value = t.best() / times[base].best()
            line += f"  {value:{max(6, len(column))}.2f}"
        if median_ratio and first is not None:
            line += f"  {ratio(t, times[first]).median:12.2f}"
        print(line)


class Table:
    """The summary table a script prints at the end: one row per measurement.

    Columns: ``min|best``, ``median``, ``max|range``, ``CPU (med)``,
    ``CPU/wall``, ``goal`` and whether the goal is met. A time row gives the
    minimum, median and maximum seconds; a ratio row best/best and the median
    and range of the per-repeat ratios.

    Examples
    --------
    >>> table = Table()
    >>> table.time("loop", Times([1.0, 1.2], [1.0, 1.2]))
    >>> table.ratio("ours / loop", [1.1, 1.2], [1.0, 1.2], "<= 1.15",
    ...             lambda r: r <= 1.15)
    1.1
    >>> table.rows[1][:4], table.rows[1][6:]
    (('ours / loop', '1.10', '1.05', '1.00-1.10'), ('<= 1.15', 'met'))
    >>> table.records[1]["ratio_best"], table.records[1]["met"]
    (1.1, True)
    """

    def __init__(self):
        self.rows = []  # printed cells
        self.records = []  # the same rows as numbers, for the run's record
        self.footnotes = []

    def time(self, label, seconds, goal="", ok=None):
        """A row of wall seconds (a :class:`Times`)."""
        self.records.append(
            {
                "measurement": label.strip(),
                "wall_s": list(seconds),
                "cpu_s": list(getattr(seconds, "cpu", [])),
                "goal": goal,
                "met": ok,
            }
        )
        self.rows.append(
            (
                label,
                f"{min(seconds):.3f} s",
                f"{statistics.median(seconds):.3f} s",
                f"{max(seconds):.3f} s",
                f"{seconds.cpu_median():.3f} s" if seconds.cpu else "",
                f"{seconds.cpu_share():.2f}" if seconds.cpu else "",
                goal,
                _status(ok),
            )
        )

    def ratio(self, label, num, den, goal="", check=None):
        """A row for num/den; returns the best/best ratio."""
        r = ratio(num, den)
        ok = None if check is None else check(r.best)
        self.records.append(
            {
                "measurement": label.strip(),
                "ratio_best": r.best,
                "ratio_median": r.median,
                "ratio_range": [r.low, r.high],
                "goal": goal,
                "met": ok,
            }
        )
        self.rows.append(
            (
                label,
                f"{r.best:.2f}",
                f"{r.median:.2f}",
                f"{r.low:.2f}-{r.high:.2f}",
                "",
                "",
                goal,
                _status(ok),
            )
        )
        return r.best

    def note(self, label, text):
        """A row with one free-text value."""
        self.records.append({"measurement": label.strip(), "note": text})
        self.rows.append((label, text, "", "", "", "", "", ""))

    def print(self, repeats):
        head = (
            f"measurement (n={repeats} repeats)",
            "min|best",
            "median",
            "max|range",
            "CPU (med)",
            "CPU/wall",
            "goal",
            "",
        )
        rows = [head, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        line = "  ".join("-" * w for w in widths)
        print(line)
        for j, row in enumerate(rows):
            cells = [
                row[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(row[1:6], widths[1:6], strict=True)),
                row[6].ljust(widths[6]),
                row[7],
            ]
            print("  ".join(cells).rstrip())
            if j == 0:
                print(line)
        print(line)
        for text in self.footnotes:
            print(textwrap.fill(text, width=88, subsequent_indent="    "))


def _status(ok):
    return "" if ok is None else ("met" if ok else "NOT met")


def section(title):
    """Print a section heading with the load average now.

    Examples
    --------
    >>> section("(a) fit")  # doctest: +ELLIPSIS
    <BLANKLINE>
    == (a) fit  (load average ...)
    """
    print(f"\n== {title}  (load average {format_load()})", flush=True)


# ---------------------------------------------------------------------------
# The machine


def autogroup_scheduling():
    """Whether Linux shares CPU between sessions (autogroups), not processes."""
    try:
        return (
            Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        )
    except OSError:
        return False


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """What a number depends on: host, CPUs, threads, library versions.

    Libraries are listed when the script has imported them (``torch`` only
    where the script uses it), so call this after the imports.

    Examples
    --------
    >>> info = machine()
    >>> info["logical_cpus"] >= 1 and "numpy" in info["versions"]
    True
    """
    import skdpa

    versions = {"python": platform.python_version(), "skdpa": skdpa.__version__}
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    threads = {v: os.environ[v] for v in _THREAD_VARIABLES if v in os.environ}
    if "threadpoolctl" in sys.modules:
        from threadpoolctl import threadpool_info

        pools = sorted(
            {(p["internal_api"], p["num_threads"]) for p in threadpool_info()}
        )
        threads["thread pools (api, threads)"] = pools
    torch = sys.modules.get("torch")
    if torch is not None:
        threads["torch intra-op threads"] = torch.get_num_threads()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "autogroup_scheduling": autogroup_scheduling(),
        "cpu_seconds": CPU_SOURCE,
        "threads": threads,
        "versions": versions,
    }


def describe(info):
    """The machine header lines of :func:`machine`'s dict."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    threads = "; ".join(f"{k} {v}" for k, v in info["threads"].items())
    lines = [
        f"machine: {info['host']}: {info['platform']}, {info['cpu']}, "
        f"{info['logical_cpus']} logical CPUs ({info['usable_cpus']} usable)",
        f"versions: {versions}",
        f"threads: {threads or 'library defaults'}",
        f"CPU seconds: {info['cpu_seconds']}",
    ]
    if info["autogroup_scheduling"]:
        lines.append(
            "note: Linux autogroup scheduling is on: CPU is shared between "
            "sessions, so while other sessions are busy a second worker or "
            "thread may get no more CPU (see CPU/wall)."
        )
    return lines


# ---------------------------------------------------------------------------
# Runs and result files


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path, payload):
    """Write ``payload`` as JSON, atomically (a ``.tmp`` file, then rename).

    NumPy scalars and arrays, paths and sets are converted.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x" / "r.json"
    >>> write_json(path, {"n": np.int64(3), "a": np.arange(2)})
    >>> json.loads(path.read_text())
    {'n': 3, 'a': [0, 1]}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, default=_jsonable, indent=1))
    tmp.replace(path)


def write_csv(path, rows):
    """Write a list of dicts (same keys) as CSV with a header row.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "r.csv"
    >>> write_csv(path, [{"k": 50, "acc": 0.9}])
    >>> path.read_text().splitlines()
    ['k,acc', '50,0.9']
    """
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class Run:
    """One run of a script: its header, its sections and its result record.

    Parameters
    ----------
    script : str
        The script's ``__file__`` (its stem names the record folder).
    args : argparse.Namespace or dict, optional
        The parsed options, stored in the record.
    results_dir : path-like, optional
        Where records go; default ``benchmarks/results``.

    Examples
    --------
    >>> import tempfile
    >>> run = Run("bench_x.py", {"quick": True}, results_dir=tempfile.mkdtemp())
    >>> path = run.save({"fit_s": 1.5}, echo=False)
    >>> path.parent.name, json.loads(path.read_text())["results"]
    ('bench_x', {'fit_s': 1.5})
    """

    def __init__(self, script, args=None, *, results_dir=None):
        self.name = Path(script).stem
        self.args = dict(vars(args)) if hasattr(args, "__dict__") else dict(args or {})
        self.results_dir = Path(results_dir) if results_dir else RESULTS
        self.command = shlex.join([Path(sys.executable).name, *sys.argv])
        self.started = datetime.datetime.now(datetime.UTC)
        self.load_start = load_average()
        self._t0 = time.perf_counter()
        self._cpu0 = cpu_seconds()

    def header(self, *lines):
        """Print the script, date, command, machine and load, then ``lines``."""
        self.machine = machine()
        print(f"{self.name}  {self.started:%Y-%m-%d %H:%M} UTC")
        print(f"command: {self.command}")
        for line in describe(self.machine):
            print(line)
        print(f"load average (1, 5, 15 min) at start: {format_load(self.load_start)}")
        for line in lines:
            print(line)
        sys.stdout.flush()

    def section(self, title):
        """A section heading with the load average now (:func:`section`)."""
        section(title)

    def save(self, results, *, echo=True):
        """Write the record ``<results_dir>/<script>/<UTC time>.json``.

        The record holds the command, options, machine, start and end time,
        load at both ends, wall and CPU seconds of the whole run, peak RSS
        and ``results`` (anything :func:`write_json` can write).
        """
        finished = datetime.datetime.now(datetime.UTC)
        rss, child_rss = peak_rss_mib()
        record = {
            "script": self.name,
            "command": self.command,
            "options": self.args,
            "started_utc": self.started.isoformat(timespec="seconds"),
            "finished_utc": finished.isoformat(timespec="seconds"),
            "load_start": self.load_start,
            "load_end": load_average(),
            "wall_s": time.perf_counter() - self._t0,
            "cpu_s": cpu_seconds() - self._cpu0,
            "peak_rss_mib": rss,
            "peak_child_rss_mib": child_rss,
            "machine": getattr(self, "machine", None) or machine(),
            "results": results,
        }
        path = self.results_dir / self.name / f"{self.started:%Y%m%dT%H%M%SZ}.json"
        write_json(path, record)
        if echo:
            print(
                f"load average at the end: {format_load(record['load_end'])}; "
                f"run: {record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} CPU s, "
                f"peak RSS {rss:.0f} MiB; record: {path}"
            )
        return path
