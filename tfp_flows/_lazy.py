"""The one way the suite defers an import. Everything else is imported at the top of its
module (a test holds every module of the package to that).

An import is deferred only where that is the point:

* TensorFlow and what loads it, behind ``import tfp_flows`` and every command's
  ``--help`` (which must answer at once and work where TensorFlow is broken);
* optional dependencies that may be missing or fail to load on a stack (tensorflow-io's
  kernels on today's TensorFlow, soundfile on the pinned one).

Three forms, each named at the top of the module that uses it, so a reader sees what it
depends on:

* `lazy_exports(package, {module: [names]})`: a package's re-exports (PEP 562), each
  imported from its module on first use;
* ``name = lazy_module("dotted.module")``: a module imported on first attribute access;
* ``run = lazy_callable("dotted.module:function")``: a function imported on first call
  (a command's work, named in its `config_command`).
"""

import importlib
import types

__all__ = ["lazy_callable", "lazy_exports", "lazy_module"]


class _LazyModule(types.ModuleType):
    """A stand-in for a module that imports it on first attribute access. An import that
    fails raises at that access (ImportError, or whatever the module raised) and is tried
    again at the next one."""

    def __init__(self, name):
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def _load(self):
        return importlib.import_module(self.__dict__["_lazy_target"])  # after the first: sys.modules

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            # Introspection (doctest's collection, inspect.unwrap, copy) asks any module for
            # dunders such as __wrapped__ through hasattr: a module that is missing or
            # fails to load then simply has none, rather than failing the caller.
            try:
                module = self._load()
            except Exception:
                raise AttributeError(attr) from None
            return getattr(module, attr)
        return getattr(self._load(), attr)

    def __dir__(self):
        return dir(self._load())

    def __repr__(self):
        return f"<lazy module {self.__dict__['_lazy_target']!r}>"


def lazy_module(name):
    """A module object for `name` that imports it on first attribute access.

    >>> json = lazy_module("json")
    >>> json
    <lazy module 'json'>
    >>> json.dumps([1])
    '[1]'
    >>> lazy_module("no_such_module_here").anything
    Traceback (most recent call last):
    ModuleNotFoundError: No module named 'no_such_module_here'
    >>> hasattr(lazy_module("no_such_module_here"), "__wrapped__")  # introspection does not fail
    False
    """
    return _LazyModule(name)


def lazy_callable(target):
    """A function that imports ``"module:function"`` on its first call and calls it.

    >>> dumps = lazy_callable("json:dumps")
    >>> dumps({"a": 1})
    '{"a": 1}'
    """
    module_name, function = target.split(":")
    module = lazy_module(module_name)

    def call(*args, **kwargs):
        return getattr(module, function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    call.__doc__ = f"{target}, imported on first call."
    return call


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
