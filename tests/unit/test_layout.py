"""The package layout (docs/architecture.md): which agent packages a package may import, read from its source."""

from __future__ import annotations

import ast

from tests.support.paths import ROOT

AGENT = ROOT / "agent"


def agent_imports(package: str) -> dict[str, set[str]]:
    """For each module of `agent/<package>`, the agent modules it imports (at any depth: lazy imports count)."""
    found: dict[str, set[str]] = {}
    for path in sorted((AGENT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(AGENT.parent))] = {name for name in names if name.split(".")[0] == "agent"}
    return found


def outside(imports: dict[str, set[str]], allowed: tuple[str, ...]) -> dict[str, set[str]]:
    """The imports that are neither one of `allowed` nor inside one of them, by module."""
    def ok(name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)
    return {module: bad for module, names in imports.items() if (bad := {n for n in names if not ok(n)})}


class TestStore:
    def test_imports_only_its_own_and_the_event_catalog(self) -> None:
        """Given agent/store, then it imports nothing of the packages above it (webhooks, ingest, admin_api,
        app, cli, devtools): only itself and the catalog of system events."""
        imports = agent_imports("store")
        assert "agent/store/facade.py" in imports
        assert outside(imports, ("agent.store", "agent.mapping.catalog")) == {}

    def test_the_check_sees_an_import_that_runs_up(self) -> None:
        """Given a module importing upwards, then the check names it (the test above cannot pass vacuously)."""
        imports = {"agent/store/x.py": {"agent.store.records", "agent.webhooks.sender", "agent.mapping.catalog"}}
        assert outside(imports, ("agent.store", "agent.mapping.catalog")) == {"agent/store/x.py": {
            "agent.webhooks.sender"}}
