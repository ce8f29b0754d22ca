"""The report page in a real browser: headless Chromium (Debian's `chromium` package)
loads it, every image loads, no script error; and it takes a screenshot. Skipped, with
the reason printed, where Chromium is not installed (apt-get install chromium)."""

import json
import shutil
import subprocess

import pytest

from conftest import load_script

report = load_script("report")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt-get install chromium)")

# What the page itself reports once loaded: its images, those that did not load, and any
# script error (added to a copy of the page, for the test only).
PROBE = """<script>
var errors = [];
window.addEventListener("error", function (e) { errors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: imgs.length, broken: broken, errors: errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args, user_dir):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", f"--user-data-dir={user_dir}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def _probe(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</head>", PROBE + "</head>", 1))
    proc = _chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri(), user_dir=tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert '<pre id="probe">' in dom, dom[-2000:]
    return json.loads(dom.split('<pre id="probe">')[1].split("</pre>")[0].replace("&quot;", '"'))


def _results(folder, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, oks in (("p1_bijectors", [True, True]), ("p1_mass_conservation", [True, False, None])):
        (folder / name).mkdir(parents=True)
        rows = [{"quantity": f"q{i}", "published": "1", "reproduced": "1", "tolerance": "0", "ok": ok}
                for i, ok in enumerate(oks)]
        (folder / name / "results.json").write_text(json.dumps({"rows": rows, "seed": 1}))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(folder / "p1_bijectors" / png)
    plt.close(fig)


def test_the_page_loads_in_chromium_with_every_image_and_no_error(tmp_path):
    _results(tmp_path / "results", "figure.png")
    page, _ = report.build(tmp_path / "results", tmp_path / "bench")
    seen = _probe(page, tmp_path)
    assert seen == {"images": 1, "broken": 0, "errors": []}

    # The probe can see a broken image and a script error: the same check on a page with both.
    bad = page.replace("</body>", '<img src="data:image/png;base64,AAAA"><script>undefinedCall()</script></body>')
    seen = _probe(bad, tmp_path)
    assert seen["images"] == 2 and seen["broken"] == 1 and any("undefinedCall" in e for e in seen["errors"])

    # And a screenshot.
    (tmp_path / "page.html").write_text(page)
    shot = tmp_path / "page.png"
    proc = _chromium(f"--screenshot={shot}", "--window-size=1200,1600", (tmp_path / "page.html").as_uri(),
                     user_dir=tmp_path / "profile2")
    assert proc.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
