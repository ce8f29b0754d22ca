"""The public API carries type annotations: every name in the `__all__` of the packages
and modules users import (`tfp_flows`, `bijectors`, `flows`, `training`, `experiments`
and its configs, export, score and anomaly modules, and the data readers of `datasets`),
and for a class its constructor and public methods. `make lint` runs this (after ruff); a test runs
it too. Prints one line per gap and exits 1 when there is any.

    python tests/check_annotations.py
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["tfp_flows", "tfp_flows.bijectors", "tfp_flows.flows", "tfp_flows.training", "tfp_flows.experiments",
            "tfp_flows.experiments.configs", "tfp_flows.experiments.export", "tfp_flows.experiments.score",
            "tfp_flows.experiments.anomaly", "tfp_flows.datasets.gas", "tfp_flows.datasets.speech",
            "tfp_flows.datasets.images", "tfp_flows.datasets.table", "tfp_flows.datasets.download",
            "tfp_flows.datasets.toy", "tfp_flows.datasets.energies"]
# Keras and TFP call these with their own arguments; their signatures are those libraries'.
FRAMEWORK_HOOKS = {"call", "build", "get_config", "from_config", "on_epoch_end", "on_batch_end"}


def _module_path(module):
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _exports(package):
    """{name: module} of a package's `__all__`: from its lazy_exports table or its imports."""
    tree = ast.parse(_module_path(package).read_text())
    names, where = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = [e.value for e in node.value.elts]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfp_flows"):
            where.update({a.asname or a.name: node.module for a in node.names})
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            for table in (a for a in node.args if isinstance(a, ast.Dict)):
                for key, value in zip(table.keys, table.values):
                    where.update({e.value: key.value for e in value.elts})
    return {n: where.get(n, package) for n in names if not n.startswith("__")}


def _definition(module, name, seen=()):
    """The def or class `name` in `module`, following re-exports."""
    path = _module_path(module)
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return module, node
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfp_flows"):
            if any((a.asname or a.name) == name for a in node.names) and node.module not in seen:
                original = next(a.name for a in node.names if (a.asname or a.name) == name)
                return _definition(node.module, original, (*seen, module))
    exports = _exports(module) if path.name == "__init__.py" else {}
    if name in exports and exports[name] != module:
        return _definition(exports[name], name, (*seen, module))
    return module, None  # a constant, not a def or class


def _gaps(function, where):
    args = function.args
    params = [a for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg not in ("self", "cls")]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    missing = [a.arg for a in params if a.annotation is None]
    gaps = [f"{where}: argument {m} has no annotation" for m in missing]
    if function.returns is None and function.name != "__init__":
        gaps.append(f"{where}: no return annotation")
    return gaps


def check():
    gaps, checked = [], set()
    for package in PACKAGES:
        for name, module in sorted(_exports(package).items()):
            where, node = _definition(module, name)
            if node is None or (where, name) in checked:
                continue
            checked.add((where, name))
            label = f"{where}.{name}"
            if isinstance(node, ast.FunctionDef):
                gaps += _gaps(node, label)
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (item.name == "__init__" or not item.name.startswith("_")) \
                        and item.name not in FRAMEWORK_HOOKS:
                    if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                        if item.returns is None:
                            gaps.append(f"{label}.{item.name}: property without a return annotation")
                        continue
                    gaps += _gaps(item, f"{label}.{item.name}")
    return gaps, checked


if __name__ == "__main__":
    found, checked = check()
    for line in found:
        print(line)
    print(f"{len(checked)} public names checked: {len(found)} gaps", file=sys.stderr)
    sys.exit(1 if found else 0)
