"""Parts of SciPy and scikit-learn that serving never uses, loaded on their first real use.

Importing scikit-learn imports scipy.stats, scipy.optimize, scipy.interpolate and more,
for training and for estimators other than the one served: about half of the import,
which every cold start pays. `install()` puts a finder first on sys.meta_path that
creates each module in DEFERRED as usual but runs none of its code. The first use of
the module (any attribute, or an import of one of its submodules) runs its code, in
place, so every later use sees exactly the module Python would have imported.

A plain lazy module is not enough: scikit-learn's modules bind names at import
(`from scipy.stats import gmean`), and reading the name would run the module at once.
For those statements only (the top-level code of a scikit-learn module asking for one
of the names DEFERRED lists), the name is bound to a stand-in. Its first use (a call,
an attribute, isinstance, subclassing) runs the module and acts on the real object,
and from then on every such binding holds the real object itself. What scikit-learn
computes is unchanged. Anything else asking for a name (a pickle, another package, a
function at run time) gets the real object, running the module.

LAZY_IMPORTS=0 (or false, no, off) turns it off. Standard library only: this runs
before anything else is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from typing import Any

# Module -> the names scikit-learn's modules import from it at import, bound as stand-ins.
DEFERRED: dict[str, tuple[str, ...]] = {
    "scipy.stats": ("chi2", "gmean", "rankdata", "spearmanr"),
    "scipy.optimize": ("linear_sum_assignment", "linprog", "minimize", "minimize_scalar"),
    "scipy.interpolate": ("BSpline",),
    "scipy.integrate": ("trapezoid",),
    "scipy.ndimage": (),
    "scipy.spatial": ("distance",),
    # scikit-learn's solvers' helpers, which import scipy.optimize's private line search.
    "sklearn.utils.optimize": ("_check_optimize_result", "_newton_cg"),
}
SWITCH = "LAZY_IMPORTS"
_OFF = {"0", "false", "no", "off"}
# Read before the module's code has run: the import system's own bookkeeping.
_OWN = frozenset(
    {"__name__", "__spec__", "__loader__", "__class__", "__package__", "__file__", "__cached__"}
)
_IMPORT_SYSTEM = "importlib._bootstrap"
_PYTHON_CODE = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)
_BINDING_PACKAGE = "sklearn."


class _Deferred(types.ModuleType):
    """A module whose code has not run yet: any use runs it, then it is a plain module."""

    def __getattribute__(self, name: str) -> Any:
        state = _state_of(self)
        if name in _OWN or state.running_here():
            return object.__getattribute__(self, name)
        caller = sys._getframe(1)
        if name == "__path__" and _is_import_statement(caller):
            # `from package import name` asks whether this is a package first.
            return object.__getattribute__(self, name)
        if name in state.names:
            importer = _scikit_learn_binding(caller)
            if importer is not None:
                return state.stand_in(self, name, importer)
        state.load(self)
        return getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        _state_of(self).load(self)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        _state_of(self).load(self)
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        _state_of(self).load(self)
        return dir(self)


def _state_of(module: types.ModuleType) -> _State:
    state: _State = object.__getattribute__(module, "__spec__").loader_state
    return state


class _State:
    """One deferred module's real loader, and whether (and by whom) its code has run."""

    def __init__(self, loader: importlib.abc.Loader, names: Sequence[str]) -> None:
        self.loader = loader
        self.names = frozenset(names)
        self._lock = threading.RLock()
        self._runner: int | None = None
        self._stand_ins: dict[str, _StandIn] = {}

    def running_here(self) -> bool:
        return self._runner == threading.get_ident()

    def load(self, module: types.ModuleType) -> None:
        if type(module) is not _Deferred or self.running_here():
            return
        with self._lock:  # a second thread waits for the whole module, as imports do
            if type(module) is not _Deferred:
                return
            self._runner = threading.get_ident()
            try:
                spec = object.__getattribute__(module, "__spec__")
                spec.loader = self.loader
                object.__setattr__(module, "__loader__", self.loader)
                self.loader.exec_module(module)
                object.__setattr__(module, "__class__", types.ModuleType)
            finally:
                self._runner = None
        for stand_in in self._stand_ins.values():
            stand_in.rebind()

    def stand_in(self, module: types.ModuleType, name: str, importer: dict[str, Any]) -> _StandIn:
        with self._lock:
            if name not in self._stand_ins:
                self._stand_ins[name] = _StandIn(self, module, name)
            stand_in = self._stand_ins[name]
        stand_in.importers.append(importer)
        return stand_in


class _StandIn:
    """Bound by `from module import name` in place of the real object, until it loads.

    Calling it, reading an attribute, an isinstance or issubclass check, or subclassing
    it loads the module and acts on the real object. Once the module has loaded, every
    importer's global that holds the stand-in is rebound to the real object.
    """

    def __init__(self, state: _State, module: types.ModuleType, name: str) -> None:
        self._state = state
        self._module = module
        self._name = name
        self.importers: list[dict[str, Any]] = []
        self._rebound = False

    def real(self) -> Any:
        self._state.load(self._module)
        real = getattr(self._module, self._name)
        if not self._rebound:  # the import statement that bound it has finished by now
            self.rebind()
            self._rebound = True
        return real

    def rebind(self) -> None:
        real = self._module.__dict__.get(self._name, self)
        if real is self:  # not in the module: its first use raises the AttributeError
            return
        for namespace in self.importers:
            for key, value in list(namespace.items()):
                if value is self:
                    namespace[key] = real

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.real()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.real(), attribute)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self.real())

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, self.real())

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self.real(),)

    def __repr__(self) -> str:
        return repr(self.real())


def _is_import_statement(caller: types.FrameType) -> bool:
    # The interpreter's `import` reads __path__ itself, with no frame of the import
    # system in between; importing a submodule reads it from the import system's code,
    # and that must run the package first.
    return caller.f_globals.get("__name__") != _IMPORT_SYSTEM


def _scikit_learn_binding(caller: types.FrameType | None) -> dict[str, Any] | None:
    """The globals of the scikit-learn module whose top-level code is asking, if it is one."""
    while caller is not None and caller.f_globals.get("__name__") == _IMPORT_SYSTEM:
        caller = caller.f_back  # `from m import f` asks hasattr(m, "f") in there first
    if caller is None or caller.f_code.co_name != "<module>":
        return None
    importer = caller.f_globals.get("__name__", "")
    if isinstance(importer, str) and importer.startswith(_BINDING_PACKAGE):
        return caller.f_globals
    return None


class _DeferringLoader(importlib.abc.Loader):
    """Creates the module as usual, and runs none of its code."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module, with __path__, __file__ and the rest set

    def exec_module(self, module: types.ModuleType) -> None:
        module.__class__ = _Deferred


class _AlreadyRun(importlib.abc.Loader):
    """A submodule that its package's code imported while the import system sought it.

    Importing `package.child` reads the package's __path__, which runs a deferred
    package's code, which may import the child itself: after the import system has
    checked that the child is not in sys.modules. Without this loader the child's code
    would run a second time, into a second module object.
    """

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module
        self._spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self._module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self._spec  # the import system set the one it was handed


class DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the modules in DEFERRED as the path finder would, and defers their code."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in DEFERRED:
            already = sys.modules.get(fullname)
            if already is not None and target is None and fullname.rpartition(".")[0] in DEFERRED:
                return importlib.machinery.ModuleSpec(fullname, _AlreadyRun(already))
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        # Only Python code can run into a module made beforehand; anything else as usual.
        if spec is None or not isinstance(spec.loader, _PYTHON_CODE):
            return spec
        spec.loader_state = _State(spec.loader, DEFERRED[fullname])
        spec.loader = _DeferringLoader()
        return spec


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether LAZY_IMPORTS leaves the lazy imports on (they are on unless it says off)."""
    return environ.get(SWITCH, "").strip().lower() not in _OFF


def install(environ: Mapping[str, str] = os.environ) -> bool:
    """Defer DEFERRED's modules from now on, unless LAZY_IMPORTS turns it off; whether it did."""
    if not enabled(environ):
        return False
    if not any(isinstance(finder, DeferringFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeferringFinder())
    return True


def is_deferred(module: types.ModuleType) -> bool:
    """Whether a module's code has yet to run."""
    return type(module) is _Deferred
