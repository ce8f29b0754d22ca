"""The reproduction report page: built from whatever results exist, never re-running anything."""

import base64
import json
import re

from conftest import load_script

report = load_script("report")

# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _results(folder, name, oks, seed=7):
    rows = [{"quantity": f"q{i}", "published": "1", "reproduced": "1", "tolerance": "0", "ok": ok, "key": f"k{i}"}
            for i, ok in enumerate(oks)]
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "results.json").write_text(json.dumps({"section": name, "rows": rows, "seed": seed}))


def test_every_section_is_on_the_page_with_its_verdict_counts(tmp_path):
    res = tmp_path / "results"
    _results(res, "p1_bijectors", [True, True])
    _results(res, "p1_mass_conservation", [True, False, None])
    _results(res, "p2_masking", [True, None, None])
    (res / "p1_bijectors" / "figure.png").write_bytes(PNG)
    page, states = report.build(res, tmp_path / "bench")
    assert states["p1_bijectors"] == "pass" and states["p1_mass_conservation"] == "fail"
    assert states["p2_gas"] == "skip" and sum(s == "skip" for s in states.values()) == 8
    for _, name, title, _ in report.SECTIONS:  # every section, in the posts' order
        assert f'id="{name}"' in page and report.html.escape(title) in page
    positions = [page.index(f'id="{name}"') for _, name, _, _ in report.SECTIONS]
    assert positions == sorted(positions)
    mass = page.split('id="p1_mass_conservation"')[1].split("</section>")[0]
    assert "1 passed, 1 failed, 1 information only" in mass and '<tr class="r-fail">' in mass
    assert '<tr class="r-info">' in page.split('id="p2_masking"')[1].split("</section>")[0]
    assert "data:image/png;base64," in page.split('id="p1_bijectors"')[1].split("</section>")[0]
    gas = page.split('id="p2_gas"')[1].split("</section>")[0]
    assert "not run" in gas and "make train-gas" in gas and "python reproductions/p2_gas.py" in gas
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched at view time
    assert "2 passed, 1 failed, 8 not run" in re.sub(r"<[^>]+>", "", page)


def test_corrupt_or_half_written_results_get_a_line_not_a_crash(tmp_path):
    res = tmp_path / "results"
    _results(res, "p1_bijectors", [True])
    (res / "p1_inverse_cdf").mkdir(parents=True)
    (res / "p1_inverse_cdf" / "results.json").write_text('{"section": "x", "rows": [{"ok": tr')  # half-written
    (res / "p1_training_a_flow").mkdir(parents=True)
    (res / "p1_training_a_flow" / "results.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "train.json").write_text("{not json")
    out = tmp_path / "page.html"
    assert report.main(["--results", str(res), "--benchmarks", str(tmp_path / "bench"), "--out", str(out)]) == 0
    page = out.read_text()
    for name in ("p1_inverse_cdf", "p1_training_a_flow"):
        assert f"{res / name / 'results.json'} could not be read" in page
    assert f"{tmp_path / 'bench' / 'train.json'} could not be read" in page
    assert 'id="p1_bijectors"' in page and "1 passed, 0 failed" in page
    # rebuilt from scratch every time: a fixed results file shows at once
    _results(res, "p1_inverse_cdf", [True, True, True])
    assert report.main(["--results", str(res), "--out", str(out), "--benchmarks", str(tmp_path / "nb")]) == 0
    assert "could not be read" not in out.read_text().split('id="p1_inverse_cdf"')[1].split("</section>")[0]
    assert not list(tmp_path.glob(".page.html*"))  # written atomically: no temporary file left


def test_benchmark_table_and_chart(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "train.json").write_text(json.dumps({"batches": {"100": {"samples_per_s_summary": {
        "tfp_flows": {"min": 50_000, "median": 56_000, "max": 60_000},
        "zuko": {"min": 12_000, "median": 13_000, "max": 14_000}}}}}))
    page, _ = report.build(tmp_path / "results", bench)
    section = page.split("<h2>Benchmarks</h2>")[1]
    assert "56,000" in section and "13,000" in section and "<svg" in section and section.count("<rect") == 2
