"""Lazy re-exports for package `__init__` modules (PEP 562): a name is imported from its
module on first use, so importing a package (e.g. to print a command's --help) does not
import TensorFlow until something that needs it is touched."""

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package, exports):
    """(`__getattr__`, `__dir__`) for `package` that import each name of `exports`
    ({module path: [names]}) from its module when first asked for.

    >>> getattr_, dir_ = lazy_exports("tfp_flows", {"tfp_flows.files": ["atomic_path"]})
    >>> getattr_("atomic_path").__name__
    'atomic_path'
    >>> "atomic_path" in dir_()
    True
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)  # later look-ups skip this hook
        return value

    def __dir__():
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
