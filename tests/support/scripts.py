"""The repository's scripts/ (not a package) loaded as modules, for tests of their functions."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.support.paths import ROOT

SCRIPTS = ROOT / "scripts"


def load_script(name: str) -> ModuleType:
    """scripts/`name`.py as a module."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
