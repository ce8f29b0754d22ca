"""The ledger of published values and the published-vs-reproduced table.

Every published figure the suite checks lives in one JSON ledger
(`reproductions/ledger.json`). An entry names its source and section and says how a
reproduced value is judged:

* ``value`` + ``tolerance``: ``|reproduced - value| <= tolerance`` (element-wise for
  lists, where the tolerance may be one number or one per value); the tolerance is the
  print precision of the published figure, or the error it was published with.
* ``value`` + ``tolerance_se``: within that many standard errors of the reproduced
  estimate (for quantities estimated from random draws).
* ``min`` / ``max``: a bound the reproduced value must respect.
* ``rule``: a statement checked by the script (e.g. "the loss falls"); the script
  passes the verdict.
* ``value: null`` and no rule: reproduced and reported, no published number.

A `Report` collects rows and renders the table
``quantity | published | reproduced | tolerance | ok``.
"""

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from tfp_flows.cli import EXIT_MISMATCH, EXIT_OK
from tfp_flows.files import write_json_atomic

__all__ = [
    "LedgerEntry",
    "Report",
    "Row",
    "finish",
    "load_ledger",
]


_FIELDS = {
    "source", "section", "quantity", "value", "tolerance", "tolerance_se",
    "min", "max", "rule", "published_text", "note",
}


@dataclass(frozen=True)
class LedgerEntry:
    """One published figure (or stated outcome) and how to compare with it."""

    key: str
    source: str
    section: str
    quantity: str
    value: Optional[Union[float, list]] = None
    tolerance: Optional[float] = None
    tolerance_se: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    rule: Optional[str] = None
    published_text: Optional[str] = None
    note: Optional[str] = None


def load_ledger(path) -> dict:
    """Read and validate the ledger at `path`; returns ``{key: LedgerEntry}``.

    Raises:
      ValueError: naming the file and the entry when an entry is malformed.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"ledger {str(path)!r} not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"ledger {str(path)!r} is not valid JSON: {err}") from None
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise ValueError(f"ledger {str(path)!r} has no 'entries' object")
    out = {}
    for key, spec in entries.items():
        where = f"ledger {str(path)!r}, entry {key!r}"
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: expected an object")
        unknown = set(spec) - _FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        for name in ("source", "section", "quantity"):
            if not isinstance(spec.get(name), str):
                raise ValueError(f"{where}: field {name!r} must be a string")
        value = spec.get("value")
        if value is not None and not _is_number_or_numbers(value):
            raise ValueError(f"{where}: 'value' must be a number, a list of numbers or null")
        for name in ("tolerance_se", "min", "max"):
            t = spec.get(name)
            if t is not None and (not _is_number(t) or (name.startswith("tol") and t < 0)):
                raise ValueError(f"{where}: {name!r} must be a non-negative number")
        t = spec.get("tolerance")
        if t is not None and not (_is_number_or_numbers(t) and np.all(np.asarray(t) >= 0)
                                  and (not isinstance(t, list) or (isinstance(value, list) and len(t) == len(value)))):
            raise ValueError(f"{where}: 'tolerance' must be a non-negative number, or one per value")
        if value is not None and spec.get("tolerance") is None and spec.get("tolerance_se") is None:
            raise ValueError(f"{where}: a 'value' needs 'tolerance' or 'tolerance_se'")
        out[key] = LedgerEntry(key=key, **spec)
    return out


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_number_or_numbers(x):
    return _is_number(x) or (isinstance(x, list) and x and all(_is_number(v) for v in x))


def _fmt(x, digits=10):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    text = " ".join(f"{v:.{digits}g}" for v in arr)
    return text


@dataclass
class Row:
    """One line of the table; ``ok`` is True, False, or None for information only."""

    quantity: str
    published: str
    reproduced: str
    tolerance: str
    ok: Optional[bool]
    key: Optional[str] = None
    values: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "key": self.key, "quantity": self.quantity, "published": self.published,
            "reproduced": self.reproduced, "tolerance": self.tolerance, "ok": self.ok,
            **self.values,
        }


class Report:
    """Collects published-vs-reproduced rows for one section and renders them.

    Args:
      title: the section's name, printed above the table and in the summary line.
      ledger: the mapping returned by `load_ledger`.
    """

    def __init__(self, title: str, ledger: dict):
        self.title = title
        self.ledger = ledger
        self.rows = []

    def entry(self, key) -> LedgerEntry:
        try:
            return self.ledger[key]
        except KeyError:
            raise ValueError(f"the ledger has no entry {key!r}") from None

    def compare(self, key, reproduced, stderr=None, quantity=None, enforce=True) -> Optional[bool]:
        """Compare a reproduced number (or list) with ledger entry `key`.

        `stderr` (same shape as `reproduced`) is needed for ``tolerance_se`` entries.
        With ``enforce=False`` the row is shown but only informs (ok = None).
        Returns the verdict.
        """
        e = self.entry(key)
        rep = np.atleast_1d(np.asarray(reproduced, dtype=float))
        values = {"reproduced_value": rep.tolist()}
        if e.value is not None:
            pub = np.atleast_1d(np.asarray(e.value, dtype=float))
            if pub.shape != rep.shape:
                raise ValueError(
                    f"{key}: reproduced shape {rep.shape} differs from published {pub.shape}")
            if e.tolerance is not None:
                tol = np.broadcast_to(np.asarray(e.tolerance, dtype=float), pub.shape)
                tol_text = _fmt(e.tolerance, 3) if isinstance(e.tolerance, list) else f"{e.tolerance:g}"
            else:
                if stderr is None:
                    raise ValueError(f"{key}: a tolerance in standard errors needs `stderr`")
                se = np.broadcast_to(np.asarray(stderr, dtype=float), pub.shape)
                tol = e.tolerance_se * se
                tol_text = f"{e.tolerance_se:g} se = {_fmt(tol, 3)}"
                values["stderr"] = se.tolist()
            ok = bool(np.all(np.abs(rep - pub) <= tol) and np.all(np.isfinite(rep)))
            published = _fmt(pub)
        else:
            published = e.published_text or "no published number"
            bounds = []
            ok = bool(np.all(np.isfinite(rep)))
            if e.min is not None:
                bounds.append(f">= {e.min:g}")
                ok = ok and bool(np.all(rep >= e.min))
            if e.max is not None:
                bounds.append(f"<= {e.max:g}")
                ok = ok and bool(np.all(rep <= e.max))
            tol_text = " and ".join(bounds) if bounds else "-"
            if not bounds:
                ok = None
        if not enforce:
            ok = None
        self.rows.append(Row(quantity or e.quantity, published, _fmt(rep), tol_text, ok, key, values))
        return ok

    def verdict(self, key, reproduced_text, ok: bool, quantity=None, enforce=True) -> Optional[bool]:
        """Record a rule-type entry (e.g. "the loss falls") with the script's verdict.

        With ``enforce=False`` the row is shown but only informs (ok = None)."""
        e = self.entry(key)
        if e.rule is None:
            raise ValueError(f"{key}: ledger entry has no 'rule'")
        ok = bool(ok) if enforce else None
        self.rows.append(Row(quantity or e.quantity, e.published_text or "-",
                             reproduced_text, e.rule, ok, key))
        return ok

    def info(self, quantity, reproduced, published="-", note="info"):
        """An information-only row: a reproduced figure with nothing to check."""
        self.rows.append(Row(quantity, published, _fmt(reproduced), note, None))

    @property
    def failed(self) -> Sequence[Row]:
        return [r for r in self.rows if r.ok is False]

    @property
    def checked(self) -> Sequence[Row]:
        return [r for r in self.rows if r.ok is not None]

    def exit_code(self) -> int:
        return EXIT_MISMATCH if self.failed else EXIT_OK

    def summary_line(self) -> str:
        n, bad = len(self.checked), len(self.failed)
        status = "PASS" if not bad else "FAIL"
        return f"{status}  {self.title}: {n - bad}/{n} checks within tolerance"

    def render(self) -> str:
        header = ("quantity", "published", "reproduced", "tolerance", "ok")
        body = [
            (r.quantity, r.published, r.reproduced, r.tolerance,
             {True: "yes", False: "NO", None: "info"}[r.ok])
            for r in self.rows
        ]
        widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
        def line(cells):
            return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

        out = [f"== {self.title}", line(header), "-+-".join("-" * w for w in widths)]
        out += [line(b) for b in body]
        return "\n".join(out)

    def as_dict(self) -> dict:
        return {
            "section": self.title,
            "passed": not self.failed,
            "rows": [r.as_dict() for r in self.rows],
        }


def finish(report: Report, out_dir, extra=None, stream=None) -> int:
    """Print the table and summary line, write ``results.json`` to `out_dir`, return the exit code.

    `extra` (a JSON-able dict) is stored beside the rows, e.g. settings and histories.
    """
    stream = stream or sys.stdout
    print(report.render(), file=stream)
    payload = report.as_dict()
    if extra:
        payload.update(extra)
    path = write_json_atomic(Path(out_dir) / "results.json", payload)
    print(f"results: {path}", file=stream)
    print(report.summary_line(), file=stream)
    return report.exit_code()
