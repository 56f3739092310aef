"""Custom import-linter contracts for godnb (registered in ``pyproject.toml``).

``private_names``: no module imports a private name (``_x``, not ``__x__``) from a module
of another subpackage. Inside one subpackage its modules may share private helpers; across
subpackages only public names form the interface, so a layer can change its internals
without breaking the layers above.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache

from importlinter import Contract, ContractCheck, fields, output


class PrivateNamesContract(Contract):
    """Options: ``containers``: the packages whose direct subpackages are checked."""

    type_name = "private_names"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:  # type: ignore[no-untyped-def]
        violations: list[str] = []
        for container in self.containers:  # type: ignore[attr-defined]
            for importer in sorted(graph.find_descendants(container)):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if _subpackage(importer, container) == _subpackage(imported, container):
                        continue
                    if not imported.startswith(container + "."):
                        continue
                    for name, line in _private_names(importer, imported):
                        violations.append(f"{importer}:{line} imports {name} from {imported}")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(f"- {violation}")
        output.new_line()
        output.print("Make the name public (no leading underscore, listed in __all__) in "
                     "the module that owns it, or move the code that needs it next to it.")


def _subpackage(module: str, container: str) -> str:
    rest = module[len(container) + 1:]
    return rest.partition(".")[0] if rest else ""


def _private_names(importer: str, imported: str) -> list[tuple[str, int]]:
    found = []
    for node in _from_imports(importer):
        if node.module == imported:
            found += [(a.name, node.lineno) for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
    return found


@cache
def _from_imports(module: str) -> tuple[ast.ImportFrom, ...]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return ()
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), spec.origin)
    return tuple(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0)
