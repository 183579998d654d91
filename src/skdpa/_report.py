"""A per-sample table of what each prediction's certificate says."""

import numpy as np
from sklearn.utils import Bunch

__all__ = ["CertificateReport"]


class CertificateReport(Bunch):
    """Per-sample certificate report: a :class:`~sklearn.utils.Bunch` of arrays.

    Returned by ``certificate_report(X)`` of :class:`~skdpa.DPAClassifier` and
    :class:`~skdpa.SSDPAClassifier`. Keys (``n`` samples, ``C`` classes):

    ``y_pred`` (n,)
        Predicted labels (the winner of the ensemble's ``voting`` rule).
    ``radius`` (n,)
        Certified radius: no attack of at most this many poisoned training
        samples changes the prediction.
    ``runner_up`` (n,)
        The class of ``classes`` an attacker makes win with the fewest
        poisoned samples, as far as the certificate can tell: the smallest
        targeted radius among the classes, ties to the class that comes first
        in ``classes``.
    ``targeted_radius`` (n, C) or (n, C + 1)
        For every class ``c``: no attack of at most ``targeted_radius[:, c]``
        poisoned samples makes ``c`` win, so at least one more is needed. The
        predicted class's entry is ``-1`` (it already wins: 0 are needed).
        With ``new_label`` one more column, last: a label outside ``classes``
        that an attacker may introduce (it sorts first and wins ties).
        ``radius`` is the smallest entry over all rivals, that one included,
        so it can be below every class's entry.
    ``votes`` (n, C)
        Members voting for each class (the first round under run-off voting).
    ``classes`` (C,)
        Column labels of ``votes`` and ``targeted_radius``.
    ``new_label`` bool
        Whether the label set was inferred from ``y`` (``classes=None``), so
        that the certificate also covers a new label.
    ``index`` (n,) or None
        The index of ``X`` when it was a pandas DataFrame or Series, so the
        report joins back to the rows; ``None`` otherwise.

    :meth:`to_frame` gives one row per sample, per-class arrays spread over
    columns ``votes[<class>]`` and ``targeted_radius[<class>]`` (and
    ``targeted_radius[<new label>]``).
    """

    def to_frame(self):
        """The report as a :class:`pandas.DataFrame`, one row per sample.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``y_pred``, ``radius``, ``runner_up``, then
            ``votes[<class>]`` and ``targeted_radius[<class>]`` for every class.
            Its index is that of ``X`` when ``X`` was a DataFrame (join it back
            with ``X.join(frame)``), else ``0 .. n - 1``.

        Raises
        ------
        ImportError
            When pandas is not installed; the arrays of the report itself need
            no pandas.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "CertificateReport.to_frame() needs pandas, which is not "
                "installed: pip install pandas. The report's arrays (report.y_pred, "
                "report.radius, report.votes, ...) need no pandas."
            ) from exc

        columns = {
            "y_pred": self.y_pred,
            "radius": self.radius,
            "runner_up": self.runner_up,
        }
        for name in ("votes", "targeted_radius"):
            values = np.asarray(self[name])
            for j, label in enumerate(self.classes):
                columns[f"{name}[{label}]"] = values[:, j]
        if self.get("new_label", False):
            columns["targeted_radius[<new label>]"] = self.targeted_radius[:, -1]
        return pd.DataFrame(columns, index=self.get("index"))
