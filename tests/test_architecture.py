"""The layers of ARCHITECTURE.md hold: each part of the package imports only what it may.
And the documentation the code points to exists."""

import ast
import re

import pytest

from conftest import ROOT

PACKAGE = ROOT / "tfp_flows"

# What each part may import from tfp_flows (besides itself). See ARCHITECTURE.md.
UTILITIES = {"errors", "files", "seeding", "batches", "_version"}
ALLOWED = {
    "bijectors": set(),
    "datasets": {"files", "batches"},
    "flows": {"bijectors"},
    "training": {"flows", "files", "batches", "errors"},
    "anomaly": set(),
    "reporting": {"files"},
    "plotting": {"files", "datasets"},
    "experiments": {"training", "flows", "datasets", "anomaly", "plotting", *UTILITIES},
    "cli": {"experiments", "training", "flows", "datasets", "reporting", *UTILITIES},
    **{u: set() for u in UTILITIES},
}
COMPAT_ALIASES = {"train_gas", "train_speech", "train_vi", "score_audio", "synth_speech", "export", "score"}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfp_flows"):
            parts = node.module.split(".")
            if len(parts) == 1:  # from tfp_flows import x, y
                yield from (alias.name for alias in node.names)
            else:
                yield parts[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tfp_flows."):
                    yield alias.name.split(".")[1]


def _part(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_imports_only_from_the_layers_below(path):
    part = _part(path)
    if part in COMPAT_ALIASES:
        assert set(_imports(path)) == {"cli"}
        return
    assert part in ALLOWED, f"{part}: not in ARCHITECTURE.md's layers"
    bad = sorted(set(_imports(path)) - ALLOWED[part] - {part})
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}, which {part} may not"


def test_the_layer_rules_can_catch_a_violation(tmp_path):
    bad = tmp_path / "mod.py"
    bad.write_text("from tfp_flows.training import Trainer\nimport tfp_flows.cli.options\n")
    assert set(_imports(bad)) == {"training", "cli"}


def test_readme_sections_the_code_points_to_exist():
    headings = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", (ROOT / "README.md").read_text(), re.M)}
    pointers = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "reproductions").glob("*.py")]:
        pointers += [(path.name, m.group(1)) for m in re.finditer(r"see README, ['\"]([^'\"]+)['\"]", path.read_text())]
    assert pointers, "no pointer found: the pattern is out of date"
    missing = [(f, p) for f, p in pointers if p not in headings]
    assert not missing, f"README has no section {missing}"


def test_nothing_cites_files_outside_the_repository():
    """The published sources are cited by post and section, not by a sheet outside the repo."""
    offenders = [str(p.relative_to(ROOT)) for p in [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *PACKAGE.rglob("*.py"),
                                                     *(ROOT / "reproductions").glob("*"),
                                                     *(ROOT / "tests").rglob("*.py")]
                 if p.is_file() and p.name != "test_architecture.py" and "REFERENCE.md" in p.read_text()]
    assert not offenders
