"""Build the reproduction report: one self-contained HTML page of every blog-post section.

For each section, in the posts' order (P1's four, P2's three, then the variational
inference and other flows): the verdict, the table of the section's `results.json`
(quantity, published, reproduced, tolerance, verdict; information rows told apart from
checks), its figures (embedded), and the command that re-runs it; at the top a summary
(sections passed, failed, not run) with the date, seeds, versions and machine; at the
end the training benchmark's table when `benchmarks/results/train.json` exists.

Nothing is re-run: the page is built from the files that exist. A `results.json` that
cannot be read (corrupt, half-written) gets a line naming it on the page; the page is
written atomically, so it is never half-written or stale.

    python reproductions/report.py [--results DIR] [--benchmarks DIR] [--out FILE]
"""

import argparse
import base64
import datetime
import html
import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (part, results folder = script name, section title, make target that runs it)
SECTIONS = [
    ("P1", "p1_inverse_cdf", "Normalizing flows: inverse-CDF sampling of Exp(0.5)", "make reproduce-part1"),
    ("P1", "p1_bijectors", "Bijectors: log N(2.01) directly and through NormalCDF", "make reproduce-part1"),
    ("P1", "p1_mass_conservation", "Probability mass is conserved", "make reproduce-part1"),
    ("P1", "p1_training_a_flow", "Training a flow", "make reproduce-part1"),
    ("P2", "p2_masking", "Autoregressivity and masking", "make reproduce-part2"),
    ("P2", "p2_gas", "Masked Autoregressive Flow on GAS", "make reproduce-part2"),
    ("P2", "p2_audio", "Analysing audio data with MAF", "make reproduce-part2"),
    ("VI", "vi_kl", "Planar flows on U1..U4: KL falls with K (NF, Figure 3)", "make vi"),
    ("VI", "vi_affine_chain", "A chain of affine steps is one affine map", "make vi"),
    ("VI", "nf_spline_coupling", "Spline coupling flow on two moons", "make vi"),
    ("IMG", "maf_images", "The MAF paper's Table 2 models on Fashion-MNIST", "make images"),
]
PARTS = {"P1": "P1: Getting into the flow: Bijectors in TensorFlow Probability (2019-04-05)",
         "P2": "P2: Experimenting with autoregressive flows in TensorFlow Probability (2019-04-24)",
         "VI": "Variational inference and other flows (Rezende & Mohamed, ICML 2015; Durkan et al., 2019)",
         "IMG": "Images: the MAF paper's Table 2 models (Papamakarios et al., NeurIPS 2017) on Fashion-MNIST"}
WHY_MISSING = {
    "p2_gas": "needs the UCI GAS file (`make train-gas` downloads it), or `--synthetic ROWS` for a generated one",
    "p2_audio": "needs a Speech Commands folder (`make train-speech` downloads it), or `--data DIR`",
    "maf_images": "needs the Fashion-MNIST files (`apt-get install dataset-fashion-mnist`), or `--data DIR`",
}

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #ddd}h3{margin:1.4em 0 .3em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .5em;
vertical-align:top;text-align:left}th{background:#f3f3f3}
.pass{color:#176b2c;font-weight:600}.fail{color:#b3261e;font-weight:600}.info{color:#666}
.skip{color:#8a6d00;font-weight:600}tr.r-fail td{background:#fdecea}tr.r-info td{color:#555}
section{border-left:6px solid #ccc;padding-left:1em;margin:1.2em 0}section.s-pass{border-color:#2e7d32}
section.s-fail{border-color:#c62828}section.s-skip{border-color:#f9a825}
code{background:#f5f5f5;padding:0 .2em}img{max-width:100%;border:1px solid #eee;margin:.3em 0}
.problem{color:#b3261e}
"""


def read_results(path):
    """(results dict or None, problem text or None) of one results.json."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"{path} could not be read ({' '.join(str(err).split())})"
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return None, f"{path} is not a reproduction's results (no list of rows)"
    return data, None


def counts(rows):
    checks = [r for r in rows if isinstance(r, dict) and r.get("ok") is not None]
    return {"passed": sum(1 for r in checks if r["ok"] is True), "failed": sum(1 for r in checks if r["ok"] is False),
            "info": sum(1 for r in rows if isinstance(r, dict) and r.get("ok") is None)}


def section_state(data):
    """'pass', 'fail' or 'skip' (no results)."""
    if data is None:
        return "skip"
    return "fail" if counts(data["rows"])["failed"] else "pass"


def _esc(x):
    return html.escape(str(x))


def _figures(folder):
    out = []
    for png in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        out.append(f'<figure><img alt="{_esc(png.name)}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{_esc(png.name)}</figcaption></figure>")
    return out


def _table(rows):
    head = "<tr><th>quantity</th><th>published</th><th>reproduced</th><th>tolerance</th><th>verdict</th></tr>"
    body = []
    for r in rows:
        if not isinstance(r, dict):
            continue
        ok = r.get("ok")
        verdict, cls = ("pass", "pass") if ok is True else ("FAIL", "fail") if ok is False else ("info", "info")
        body.append(f'<tr class="r-{cls}"><td>{_esc(r.get("quantity", ""))}</td><td>{_esc(r.get("published", ""))}</td>'
                    f'<td>{_esc(r.get("reproduced", ""))}</td><td>{_esc(r.get("tolerance", ""))}</td>'
                    f'<td class="{cls}">{verdict}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _benchmarks(folder):
    data, problem = None, None
    path = folder / "train.json"
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            problem = f"{path} could not be read ({' '.join(str(err).split())})"
    parts = ["<h2>Benchmarks</h2>"]
    if problem:
        return parts + [f'<p class="problem">{_esc(problem)}</p>']
    batches = (data or {}).get("batches") if isinstance(data, dict) else None
    if not isinstance(batches, dict) or not batches:
        return parts + ["<p>No training benchmark yet: <code>make bench</code> writes "
                        "<code>benchmarks/results/train.json</code>.</p>"]
    rows, bars = [], []
    for batch, entry in batches.items():
        for lib, s in (entry.get("samples_per_s_summary") or {}).items():
            rows.append(f"<tr><td>{_esc(batch)}</td><td>{_esc(lib)}</td><td>{s.get('min', 0):,.0f}</td>"
                        f"<td>{s.get('median', 0):,.0f}</td><td>{s.get('max', 0):,.0f}</td></tr>")
            bars.append((f"{lib} @ {batch}", float(s.get("median", 0))))
    top = max((v for _, v in bars), default=1.0) or 1.0
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{24 * len(bars) + 10}" role="img" '
           'aria-label="training samples per second, median">']
    for i, (label, v) in enumerate(bars):
        w = 400 * v / top
        svg.append(f'<text x="0" y="{24 * i + 17}" font-size="12">{_esc(label)}</text>'
                   f'<rect x="200" y="{24 * i + 5}" width="{w:.1f}" height="16" fill="#4a7bb7"></rect>'
                   f'<text x="{205 + w:.1f}" y="{24 * i + 17}" font-size="12">{v:,.0f}/s</text>')
    svg.append("</svg>")
    return parts + ["<p>Training samples per second of P2's GAS model (<code>make bench</code>; "
                    "figures in benchmarks/README.md).</p>",
                    "<table><tr><th>batch</th><th>library</th><th>min</th><th>median</th><th>max</th></tr>"
                    + "".join(rows) + "</table>", "".join(svg)]


def _versions():
    from importlib import metadata

    out = [f"Python {platform.python_version()}"]
    for name in ("tensorflow-cpu", "tensorflow", "tensorflow-probability", "tensorflow-io", "numpy"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def build(results_dir, bench_dir, now=None):
    """The page's HTML and the per-section states ({results folder name: state})."""
    now = now or datetime.datetime.now().astimezone()
    found, problems, states = {}, [], {}
    for _, name, _, _ in SECTIONS:
        data, problem = read_results(results_dir / name / "results.json")
        found[name] = data
        states[name] = section_state(data)
        if problem:
            problems.append(problem)
    tally = {s: sum(1 for v in states.values() if v == s) for s in ("pass", "fail", "skip")}
    seeds = sorted({str(d.get("seed")) for d in found.values() if d and d.get("seed") is not None})
    body = ["<h1>tfp-flows: reproduction report</h1>",
            f'<p><span class="pass">{tally["pass"]} passed</span>, <span class="fail">{tally["fail"]} failed</span>, '
            f'<span class="skip">{tally["skip"]} not run</span> of {len(SECTIONS)} sections.</p>',
            f"<p>Built {_esc(now.strftime('%Y-%m-%d %H:%M %Z'))} from the results on disk (nothing re-run); "
            f"seeds {_esc(', '.join(seeds) or '-')}; {_esc(_versions())}; "
            f"{_esc(platform.machine())}, {_esc(platform.system())}.</p>"]
    body += [f'<p class="problem">{_esc(p)}</p>' for p in problems]
    part = None
    for part_key, name, title, make in SECTIONS:
        if part_key != part:
            part = part_key
            body.append(f"<h2>{_esc(PARTS[part])}</h2>")
        data, state = found[name], states[name]
        command = f"python reproductions/{name}.py (or {make})"
        if data is None:
            why = WHY_MISSING.get(name, "not run yet")
            body.append(f'<section class="s-skip" id="{name}"><h3>{_esc(title)} <span class="skip">not run</span></h3>'
                        f"<p>No results yet ({_esc(why)}). Run: <code>{_esc(command)}</code></p></section>")
            continue
        c = counts(data["rows"])
        label = "FAIL" if state == "fail" else "pass"
        body.append(f'<section class="s-{state}" id="{name}"><h3>{_esc(title)} <span class="{state}">{label}</span></h3>'
                    f'<p>{c["passed"]} passed, {c["failed"]} failed, {c["info"]} information only'
                    f"{'; seed ' + _esc(data['seed']) if data.get('seed') is not None else ''}. "
                    f"Re-run: <code>{_esc(command)}</code></p>"
                    + _table(data["rows"]) + "".join(_figures(results_dir / name)) + "</section>")
    body += _benchmarks(bench_dir)
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tfp-flows reproduction report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    return page, states


def main(argv=None):
    from tfp_flows import cli
    from tfp_flows.files import atomic_path

    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=HERE / "results", help="the reproductions' results folders")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "benchmarks" / "results",
                        help="the benchmarks' results folder")
    parser.add_argument("--out", type=Path, default=None, help="the page to write (default: RESULTS/report.html)")
    args = parser.parse_args(argv)
    page, states = build(args.results, args.benchmarks)
    out = args.out or args.results / "report.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    tally = {s: sum(1 for v in states.values() if v == s) for s in ("pass", "fail", "skip")}
    print(f"report: {out} ({tally['pass']} passed, {tally['fail']} failed, {tally['skip']} not run)")
    return 0


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
