"""Where the repository is, found from this file (the tests may live in any folder below it)."""

from __future__ import annotations

from pathlib import Path


def _root() -> Path:
    """The first folder above this file that holds pyproject.toml."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise RuntimeError("no pyproject.toml above the tests")


ROOT = _root()
FIXTURES = ROOT / "tests" / "fixtures"
TRACES = FIXTURES / "ami_traces"
POSTMAN = FIXTURES / "postman"
