"""The layers of ARCHITECTURE.md hold: each part of the package imports only what it may.
And the documentation the code points to exists."""

import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = ROOT / "tfp_flows"

# What each part may import from tfp_flows (besides itself). See ARCHITECTURE.md.
UTILITIES = {"errors", "files", "seeding", "batches", "configs", "_version", "_lazy", "_tflog"}
ALLOWED = {
    "bijectors": set(),
    "datasets": {"files", "batches", "_lazy"},
    "flows": {"bijectors", "configs", "_lazy"},
    "training": {"flows", "files", "batches", "errors", "configs", "_lazy"},
    "experiments": {"training", "flows", "datasets", *UTILITIES},
    "cli": {"experiments", "training", "flows", "datasets", *UTILITIES},
    # the reproductions' ledger and tables, above the commands (it exits with their statuses)
    "ledger": {"cli", "files"},
    # the package itself re-exports the public API (lazily)
    "__init__": {"bijectors", "flows", "training", "seeding", "_lazy", "_version", "_tflog"},
    **{u: set() for u in UTILITIES},
}


def _imports(path):
    """The parts of tfp_flows that `path` imports, including the modules named in a
    `lazy_exports(...)` table (imported on first use)."""
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
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("lazy_module", "lazy_callable"):
            target = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            if target.startswith("tfp_flows."):  # an import deferred by tfp_flows._lazy is still an import
                yield target.split(":")[0].split(".")[1]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            for table in (a for a in node.args if isinstance(a, ast.Dict)):
                for key in table.keys:
                    if isinstance(key, ast.Constant) and str(key.value).startswith("tfp_flows."):
                        yield key.value.split(".")[1]


def _part(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_imports_only_from_the_layers_below(path):
    part = _part(path)
    assert part in ALLOWED, f"{part}: not in ARCHITECTURE.md's layers"
    bad = sorted(set(_imports(path)) - ALLOWED[part] - {part})
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}, which {part} may not"


def test_the_layer_rules_can_catch_a_violation(tmp_path):
    bad = tmp_path / "mod.py"
    bad.write_text("from tfp_flows.training import Trainer\nimport tfp_flows.cli.options\n"
                   "g, d = lazy_exports(__name__, {'tfp_flows.experiments.gas': ['run_gas']})\n"
                   "m = lazy_module('tfp_flows.datasets.speech')\nf = lazy_callable('tfp_flows.ledger:finish')\n")
    assert set(_imports(bad)) == {"training", "cli", "experiments", "datasets", "ledger"}


COMMANDS = ["train_gas", "train_speech", "train_table", "train_vi", "export", "score", "score_audio", "synth_speech"]


def test_every_command_prints_its_help_without_importing_tensorflow():
    """--help must be quick: no command module, and no `import tfp_flows`, pulls in
    TensorFlow before it is needed (the public API is imported on first use)."""
    code = f"""
import contextlib, importlib, io, sys
import tfp_flows
for name in {COMMANDS!r}:
    module = importlib.import_module("tfp_flows.cli." + name)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            module.main(["--help"])
        except SystemExit as done:
            assert done.code == 0, (name, done.code)
    assert "usage:" in out.getvalue(), name
print(sorted(m for m in ("tensorflow", "tensorflow_probability", "tf_keras") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    # and the public API is still there, on first use
    proc = subprocess.run([sys.executable, "-c", "import tfp_flows; print(tfp_flows.MAFFlow.__name__)"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0 and proc.stdout.strip() == "MAFFlow", proc.stderr


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


def test_no_message_or_doc_sends_a_user_to_this_projects_own_machines():
    """`../shared` exists only on this project's build machines: nothing a user reads
    (code, reproduction scripts, README, docs) may point there; the tests may read it."""
    texts = [*PACKAGE.rglob("*.py"), *(ROOT / "reproductions").glob("*.py"), *ROOT.glob("*.md"),
             *(ROOT / "docs").glob("*.md"), ROOT / "Makefile"]
    offenders = [str(p.relative_to(ROOT)) for p in texts if "../shared" in p.read_text()]
    assert not offenders


def _classes(path):
    return [node for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)]


def test_every_flow_family_is_assembled_registered_and_property_checked():
    """ARCHITECTURE.md's "A new flow family", kept true: each `Flow` subclass in flows/
    calls `assemble`, touches no private attribute of its distribution, is registered,
    and is a case of tests/flows/test_flow_properties.py."""
    from tfp_flows.flows.registry import FAMILIES

    registered = {target.split(":")[1]: target.split(":")[0] for target in FAMILIES.values()}
    properties = (ROOT / "tests" / "flows" / "test_flow_properties.py").read_text()
    found = []
    classes = [(path, path.read_text(), cls) for path in sorted((PACKAGE / "flows").glob("*.py"))
               if path.name != "base.py" for cls in _classes(path)]
    flows = {"Flow"}
    for _ in range(3):  # a family may subclass another family (maf-mog's MAFMoGFlow is a MAFFlow)
        flows |= {cls.name for _, _, cls in classes
                  if any(isinstance(b, ast.Name) and b.id in flows for b in cls.bases)}
    for path, text, cls in classes:
        if cls.name not in flows:
            continue
        found.append(cls.name)
        source = ast.get_source_segment(text, cls)
        direct = any(isinstance(b, ast.Name) and b.id == "Flow" for b in cls.bases)
        assert "self.assemble(" in source or (not direct and "super().__init__(" in source), \
            f"{cls.name} does not call assemble (nor, subclassing a family, its constructor)"
        assert not re.search(r"\._(chained|eval_distribution|distribution)\b", source), cls.name
        module = "tfp_flows.flows." + path.stem
        assert registered.get(cls.name) == module, f"{cls.name} is not in flows/registry.py's FAMILIES"
        assert re.search(rf"\b{cls.name}\(", properties), f"{cls.name} has no case in test_flow_properties.py"
    assert sorted(found) == sorted(registered), "a registered family is not a Flow subclass in flows/"


def test_every_experiment_is_a_config_and_a_run_function_and_builds_flows_by_name():
    """ARCHITECTURE.md's "A new experiment": experiments/<name>.py holding a run_<name>
    takes a config dataclass of experiments/configs.py (which the commands read without
    TensorFlow); none builds a flow family by its class."""
    declared = {c.name for c in _classes(PACKAGE / "experiments" / "configs.py") if c.name.endswith("Config")}
    assert {"GasConfig", "SpeechConfig", "TableConfig", "VIConfig", "ImagesConfig"} <= declared
    for path in sorted((PACKAGE / "experiments").glob("*.py")):
        tree = ast.parse(path.read_text())
        runs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("run_")]
        if not runs:
            continue
        assert not [c.name for c in _classes(path) if c.name.endswith("Config")], \
            f"{path.name} declares a config class (they live in experiments/configs.py)"
        imported = {a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                    and n.module == "tfp_flows.experiments.configs" for a in n.names}
        assert imported & declared, f"{path.name}: run function without a config dataclass of configs.py"
        assert "MAFFlow(" not in path.read_text(), f"{path.name} builds MAFFlow by hand (use build_flow)"


def _function_body_imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    yield node.name, inner.lineno


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_sit_at_module_top(path):
    """Every import of the package is at the top of its module, where a reader (or a tool)
    sees what the module depends on; an import deferred on purpose (TensorFlow behind
    --help, an optional decoder) goes through tfp_flows._lazy, also named at the top."""
    found = [f"{name} (line {line})" for name, line in _function_body_imports(ast.parse(path.read_text()))]
    assert not found, f"{path.relative_to(ROOT)} imports inside {', '.join(found)}: use tfp_flows._lazy"


def test_the_import_rule_can_catch_a_function_body_import():
    tree = ast.parse("import os\n\ndef f():\n    import tensorflow as tf\n    return tf\n")
    assert list(_function_body_imports(tree)) == [("f", 4)]


def test_the_public_api_is_annotated():
    """Issue 29: the names users import (`tfp_flows`, `bijectors`, `flows`, `training`,
    `experiments`, the data readers), their constructors and public methods carry type
    annotations (tests/check_annotations.py, which `make lint` runs)."""
    from check_annotations import check

    gaps, checked = check()
    assert len(checked) >= 100 and not gaps, "\n".join(gaps)


def test_the_annotation_check_finds_a_gap():
    from check_annotations import _gaps

    f = ast.parse("def f(a, b: int = 1, *rest, key=None) -> int:\n    pass\n").body[0]
    assert _gaps(f, "f") == ["f: argument a has no annotation", "f: argument key has no annotation",
                             "f: argument rest has no annotation"]
    g = ast.parse("def g(x: int):\n    pass\n").body[0]
    assert _gaps(g, "g") == ["g: no return annotation"]
