"""Progress over members: a tqdm bar when tqdm is installed, else text lines.

Both stay on screen after the work ends ("DPAClassifier fit: 50/50 members"),
so a log shows what ran and how long it took.
"""

import sys
import time

__all__ = ["progress_bar"]


class TextProgress:
    """tqdm's ``update``/``close`` as lines on stderr, about every tenth of the
    work (and at the end), with the elapsed time."""

    def __init__(self, total, desc, unit, file=None):
        self.total = int(total)
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.file = file
        self._start = time.perf_counter()
        self._step = max(1, self.total // 10)
        self._next = self._step
        self._closed = False

    def _line(self):
        elapsed = time.perf_counter() - self._start
        percent = 100 * self.n // self.total if self.total else 100
        out = self.file if self.file is not None else sys.stderr
        print(
            f"{self.desc}: {self.n}/{self.total} {self.unit}s ({percent}%, "
            f"{elapsed:.1f} s)",
            file=out,
            flush=True,
        )

    def update(self, n=1):
        self.n += n
        if self.n >= self._next and self.n < self.total:
            self._line()
            while self._next <= self.n:
                self._next += self._step

    def close(self):
        if not self._closed:
            self._closed = True
            self._line()


def progress_bar(total, desc, verbose, unit="member"):
    """A progress object with ``update(n)`` and ``close()``, or None when
    ``verbose`` is 0."""
    if not verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return TextProgress(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, leave=True)
