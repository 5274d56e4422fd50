"""Where each module an artifact references comes from: Python itself, an installed
distribution (recorded with its version, so the bundle installs the same), or the
user's code archive. Anything else cannot load where the model is served, and is
refused here with the fix.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from app.core.metadata import REFERENCE_SEPARATOR

# The server's own top-level packages: a user module of the same name would be hidden.
SERVER_MODULES = frozenset({"app", "handler", "model"})
_MAIN = "__main__"


class DependencyError(ValueError):
    """A referenced module that cannot be provided where the model is served."""


def needed_distributions(references: Sequence[str], code_modules: Sequence[str]) -> dict[str, str]:
    """Distribution -> installed version, for every distribution a reference needs."""
    providers = importlib.metadata.packages_distributions()
    for module in code_modules:
        if module in SERVER_MODULES:
            raise DependencyError(
                f"--code: a module named {module} would be hidden by the server's own "
                f"{module} package; rename it"
            )
        if module in providers or module in sys.stdlib_module_names:
            owner = ", ".join(providers.get(module, ["the standard library"]))
            raise DependencyError(
                f"--code: module {module} has the name of one from {owner}, which would be "
                "imported instead; rename it"
            )
    found: dict[str, str] = {}
    for reference in references:
        module, _, name = reference.partition(REFERENCE_SEPARATOR)
        top = module.partition(".")[0]
        if module == _MAIN:
            raise DependencyError(
                f"the model references {name} from __main__, the script that trained it, where "
                "no other program can find it: move it into a module, import it from there "
                "when training, and pass that module with --code"
            )
        if top in code_modules or top in sys.stdlib_module_names:
            continue
        distributions = providers.get(top)
        if not distributions:
            raise DependencyError(_unprovided(module, name, top))
        for distribution in distributions:
            found[distribution] = importlib.metadata.version(distribution)
    return dict(sorted(found.items()))


def _unprovided(module: str, name: str, top: str) -> str:
    needed = f"the model references {module}.{name}"
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return (
            f"{needed}, but module {top} cannot be imported here: run describe where it "
            f"imports (your project's folder) and pass it with --code path/to/{top}.py "
            "(or its package folder), or install the distribution that provides it"
        )
    origin = Path(spec.origin) if spec.origin else None
    # A package is passed as its folder, a module as its file.
    where = origin.parent if origin and origin.name == "__init__.py" else origin
    return (
        f"{needed}, and module {top} ({where or 'a namespace package'}) belongs to no "
        f"installed distribution: pass it with --code {where or f'path/to/{top}'} so that "
        "it ships with the model"
    )
