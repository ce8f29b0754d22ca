import json
import re

import numpy as np
import pytest

from conftest import REPRODUCTIONS
from tfp_flows.cli import EXIT_MISMATCH, EXIT_OK
from tfp_flows.ledger import Report, load_ledger


def _ledger(tmp_path, entries):
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps({"entries": entries}))
    return load_ledger(path)


def _entry(**kw):
    return {"source": "T", "section": "S", "quantity": "q", **kw}


def test_value_within_and_outside_print_precision(tmp_path):
    ledger = _ledger(tmp_path, {"a": _entry(value=[1.0, 2.0], tolerance=1e-3)})
    report = Report("t", ledger)
    assert report.compare("a", [1.0004, 1.9995]) is True
    assert report.compare("a", [1.0004, 2.002]) is False
    assert report.exit_code() == EXIT_MISMATCH
    assert "FAIL" in report.summary_line() and "1/2" in report.summary_line()


def test_a_tolerance_per_value(tmp_path):
    report = Report("t", _ledger(tmp_path, {"a": _entry(value=[1.0, 2.0], tolerance=[0.1, 1.0])}))
    assert report.compare("a", [1.05, 2.9]) is True
    assert report.compare("a", [1.2, 2.0]) is False  # 0.2 is outside the first value's 0.1


def test_a_value_exactly_at_its_tolerance_passes(tmp_path):
    """The ledger's rule is |reproduced - published| <= tolerance: the bound itself passes
    (binary fractions, so the difference is exact)."""
    report = Report("t", _ledger(tmp_path, {"a": _entry(value=[1.0, -2.0], tolerance=[0.5, 0.25])}))
    assert report.compare("a", [1.5, -2.25]) is True
    assert report.compare("a", [1.5, -2.25 - 2.0**-20]) is False


def test_tolerance_in_standard_errors(tmp_path):
    ledger = _ledger(tmp_path, {"m": _entry(value=2.0, tolerance_se=4)})
    report = Report("t", ledger)
    assert report.compare("m", 2.07, stderr=0.02) is True   # 3.5 se
    assert report.compare("m", 2.09, stderr=0.02) is False  # 4.5 se
    with pytest.raises(ValueError, match="stderr"):
        report.compare("m", 2.0)


def test_bounds_rules_and_info_rows(tmp_path):
    ledger = _ledger(tmp_path, {
        "p": _entry(min=0.01), "r": _entry(rule="after < before", published_text="falls"),
        "v": _entry(value=1.0, tolerance=0.1)})
    report = Report("t", ledger)
    assert report.compare("p", 0.5) is True
    assert report.compare("p", 0.001) is False
    assert report.verdict("r", "3 -> 2", True) is True
    assert report.compare("v", 5.0, enforce=False) is None  # shown, not checked
    report.info("extra", 1.5)
    assert len(report.checked) == 3 and len(report.failed) == 1
    table = report.render()
    assert "quantity | published | reproduced | tolerance | ok" in re.sub(" +", " ", table)
    assert table.count("info") >= 2


def test_both_bounds_are_enforced(tmp_path):
    # Each bound alone, and both together: a value past either one fails.
    ledger = _ledger(tmp_path, {"lo": _entry(min=1.0), "hi": _entry(max=2.0), "both": _entry(min=1.0, max=2.0)})
    report = Report("t", ledger)
    assert report.compare("hi", 1.5) is True
    assert report.compare("hi", 2.5) is False
    assert report.compare("both", 1.5) is True
    assert report.compare("both", 2.5) is False
    assert report.compare("both", 0.5) is False
    assert report.compare("hi", [1.0, 2.01]) is False  # every element is checked
    assert "<= 2" in report.render()


def test_nan_is_never_within_tolerance(tmp_path):
    report = Report("t", _ledger(tmp_path, {"a": _entry(value=1.0, tolerance=1.0)}))
    assert report.compare("a", np.nan) is False


@pytest.mark.parametrize("entries, message", [
    ({"a": _entry(value="x", tolerance=1)}, "value"),
    ({"a": _entry(value=1.0)}, "tolerance"),
    ({"a": _entry(value=1.0, tolerance=-1)}, "tolerance"),
    ({"a": _entry(value=[1.0, 2.0], tolerance=[1.0, -1.0])}, "tolerance"),
    ({"a": _entry(value=[1.0, 2.0], tolerance=[1.0])}, "one per value"),
    ({"a": {"source": "T", "section": "S"}}, "quantity"),
    ({"a": _entry(value=1.0, tolerance=1, colour="red")}, "unknown"),
])
def test_malformed_ledger_entries_are_named(tmp_path, entries, message):
    with pytest.raises(ValueError, match=message):
        _ledger(tmp_path, entries)


def test_missing_ledger_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_ledger(tmp_path / "nope.json")


def test_project_ledger_holds_every_p1_figure():
    ledger = load_ledger(REPRODUCTIONS / "ledger.json")
    assert ledger["p1.bijectors.log_prob_direct"].value == -2.938989
    assert ledger["p1.mass.log_prob_transformed_hand"].value == [-1.6120857, -1.7370857, -2.1120858]
    assert ledger["p1.mass.cdf_transformed"].value == [0.5, 0.6914625, 0.8413447]
    assert ledger["p1.training.entropy_bound"].value == 4.2242
    # The entropy bound in the ledger is the one derived from the target's settings.
    entropy = 2 * (0.5 * np.log(2 * np.pi * np.e) + np.log(2.0))
    assert abs(entropy - 4.2242) < 5e-5
    assert all(e.source in ("P1", "DERIVED") for k, e in ledger.items() if k.startswith("p1."))


def test_exit_ok_when_all_pass(tmp_path):
    report = Report("t", _ledger(tmp_path, {"a": _entry(value=1.0, tolerance=0.1)}))
    report.compare("a", 1.05)
    assert report.exit_code() == EXIT_OK
