"""Collection variables whose tag is already taken, and what the import does about each. Pure.

A variable clashes when its tag is a system parameter (`caller_id`), or a custom parameter that holds another
value (Adyen Management's `baseUrl` after Adyen Checkout's). The import takes a choice per variable name:

- a custom parameter: `new` (default) imports the collection's value under a free tag (`baseUrl_1`) and rewrites
  the imported requests to use it; `keep` leaves the requests on the existing parameter and its value;
  `overwrite` replaces the existing parameter's value (every action that uses it then sends the new value);
- a system parameter: `new` (default) imports the collection's value as the constant `postman_<tag>`;
  `system` leaves the requests on the live system value.

So the default never points imported requests at a value the collection did not give. Every request that uses a
clashing variable says so in its first note. See docs/actions.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.mapping.catalog import ALL_PARAMETERS
from agent.store.model import Parameter

Kind = Literal["parameter", "system"]
CHOICES: dict[Kind, tuple[str, ...]] = {"parameter": ("new", "keep", "overwrite"), "system": ("new", "system")}
MASK = "••••••"


@dataclass(frozen=True, slots=True)
class Clash:
    """One collection variable whose tag is taken, with the choice in force."""

    key: str
    tag: str
    kind: Kind
    value: str
    existing: str
    new_tag: str
    choice: str
    secret: bool = False
    existing_secret: bool = False

    @property
    def used_tag(self) -> str:
        """The tag the imported requests use."""
        return self.new_tag if self.choice == "new" else self.tag

    @property
    def note(self) -> str:
        """What the choice does, for the first note of every request that uses the variable."""
        name, tag = "{{" + self.key + "}}", "{{" + self.tag + "}}"
        if self.kind == "system":
            if self.choice == "system":
                return f"{name} is the live system parameter {tag} here, not the collection's value"
            return f"{name} is a system parameter here; the collection's value is the constant {{{{{self.new_tag}}}}}"
        return {
            "keep": f"{name} keeps the existing parameter {tag} and its value, not the collection's",
            "overwrite": f"parameter {tag} is overwritten with the collection's value (other actions use it too)",
        }.get(self.choice, f"{tag} is already a parameter with another value; the collection's value is "
                           f"imported as {{{{{self.new_tag}}}}}")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tag": self.tag,
            "kind": self.kind,
            "value": MASK if self.secret and self.value else self.value,
            "existing": MASK if self.existing_secret and self.existing else self.existing,
            "secret": self.secret or self.existing_secret,
            "new_tag": self.new_tag,
            "choice": self.choice,
            "choices": list(CHOICES[self.kind]),
        }


@dataclass
class Resolver:
    """Decides the tag of each collection variable against the existing parameters and the given choices."""

    existing: Mapping[str, Parameter] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)
    clashes: dict[str, Clash] = field(default_factory=dict)

    def resolve(self, key: str, tag: str, value: str, offered: Mapping[str, Any]) -> str | None:
        """The tag the variable is offered under, or None when the requests keep `{{tag}}` and none is created."""
        existing = self.existing.get(tag)
        kind: Kind | None = "system" if tag in ALL_PARAMETERS else None
        if kind is None and existing is not None and existing.value != value:
            kind = "parameter"
        if kind is None:
            return self.free(tag, value, offered)
        clash = self._clash(key, tag, kind, value, existing, offered)
        if clash.choice in ("keep", "system"):
            return None
        if clash.choice == "overwrite":
            return tag
        return self.free(f"postman_{tag}" if kind == "system" else tag, value, offered)

    def free(self, base: str, value: str, offered: Mapping[str, Any]) -> str:
        """`base`, or `base_N` with the smallest N, that no parameter holds with another value."""
        candidate, number = base, 0
        while self._taken(candidate, value, offered):
            number += 1
            candidate = f"{base}_{number}"
        return candidate

    def _taken(self, tag: str, value: str, offered: Mapping[str, Any]) -> bool:
        existing = self.existing.get(tag)
        return (
            tag in ALL_PARAMETERS
            or (tag in offered and offered[tag].value != value)
            or (existing is not None and existing.value != value)
        )

    def _clash(  # noqa: PLR0917 - the variable and what it clashes with
        self, key: str, tag: str, kind: Kind, value: str, existing: Parameter | None, offered: Mapping[str, Any]
    ) -> Clash:
        if key not in self.clashes:
            choice = self.choices.get(key, "new")
            new_tag = self.free(f"postman_{tag}" if kind == "system" else tag, value, offered)
            self.clashes[key] = Clash(key, tag, kind, value, existing.value if existing else "", new_tag, choice,
                                      existing_secret=existing.secret if existing else False)
        return self.clashes[key]


def bad_choices(choices: Mapping[str, str], clashes: Mapping[str, Clash]) -> list[tuple[str, str]]:
    """(variable, why) for each choice that names no clashing variable or is not one of its choices."""
    problems = []
    for key, choice in choices.items():
        clash = clashes.get(key)
        if clash is None:
            problems.append((key, f"variable {key!r} does not clash with a parameter"))
        elif choice not in CHOICES[clash.kind]:
            problems.append((key, f"choose one of {', '.join(CHOICES[clash.kind])} for variable {key!r}"))
    return problems
