"""The layering of the package, asserted over every import (docs/architecture.md shows the same rules).

Each module of the installed package (found through pyproject's package-dir
mapping, so ``vm/`` is ``ebpflite.vm``) belongs to one layer; every import it
makes of another layer (at module level, inside functions, or under
``TYPE_CHECKING``: a dependency is a dependency) must be one the layer's rule
allows. The layers, lowest first:

- ``vm``: ISA, instructions, memory, environment, interpreter, errors, context
  tables, helper numbering: imports nothing above it;
- ``loader``: ELF/BTF to programs: only vm;
- ``helpers``: maps, helper implementations, context classes: only vm;
- ``verifier``: only vm, loader and the helper prototypes and per-type allow-lists
  (``helpers.registry``, ``helpers.allowed``);
- ``jit``: only vm and the helpers' native descriptions (registry, map layouts);
- ``runtime``: running programs (runner, engines, replay): below the API;
- ``api``: ``ebpflite`` itself (load, errors, packets, testing, the pytest plugin);
- ``cli``: only the API, the runtime, and the documented public modules.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

#: layer -> what it may import: a layer's name (all of it), a module (exactly that module), or
#: ``package.*`` (a package and everything in it)
RULES: dict[str, tuple[str, ...]] = {
    "vm": (),
    "loader": ("vm",),
    "helpers": ("vm",),
    "verifier": ("vm", "loader", "ebpflite.helpers.registry", "ebpflite.helpers.allowed"),
    "jit": ("vm", "ebpflite.helpers.registry", "ebpflite.helpers.maps.*"),
    "runtime": ("vm", "loader", "verifier", "helpers", "jit"),
    "api": ("vm", "loader", "verifier", "helpers", "runtime"),
    "cli": ("api", "runtime", "ebpflite.loader", "ebpflite.loader.cc", "ebpflite.loader.progtypes",
            "ebpflite.verifier", "ebpflite.verifier.stats", "ebpflite.vm.asm", "ebpflite.vm.disasm",
            "ebpflite.vm.program", "ebpflite.vm.insn", "ebpflite.vm.isa", "ebpflite.vm.limits",
            "ebpflite.helpers.pcap", "ebpflite.helpers.maps", "ebpflite.helpers.registry"),
}
#: why a layer reaches past the layers its rule names, module by module (docs/architecture.md shows it):
#: the CLI runs programs through the API and the runtime, and is the front end of these public modules
WHY: dict[tuple[str, str], str] = {
    ("cli", "ebpflite.loader"): "`load_object`/`load_program`: sections, maps, btf, disasm and verify read "
                                "files without running them",
    ("cli", "ebpflite.loader.cc"): "the `cc` verb",
    ("cli", "ebpflite.loader.progtypes"): "the `--type` choices, a light table",
    ("cli", "ebpflite.verifier"): "the `verify` verb, `--verify`",
    ("cli", "ebpflite.verifier.stats"): "`verify -v`, `sections -v`",
    ("cli", "ebpflite.vm.asm"): "the `asm` verb",
    ("cli", "ebpflite.vm.disasm"): "the `disasm` verb, listings, traces",
    ("cli", "ebpflite.vm.program"): "the `Program` type every loader returns",
    ("cli", "ebpflite.vm.insn"): "instruction bytes in listings",
    ("cli", "ebpflite.vm.isa"): "lddw forms in listings",
    ("cli", "ebpflite.vm.limits"): "the `--budget` default, without the ISA table",
    ("cli", "ebpflite.helpers.pcap"): "captures for `bench`, `xdp`, `tc`, `socket`",
    ("cli", "ebpflite.helpers.maps"): "`map dump`/`map list` of pinned maps",
    ("cli", "ebpflite.helpers.registry"): "helper prototypes in the verbose listing",
    ("verifier", "ebpflite.helpers.registry"): "helper prototypes",
    ("verifier", "ebpflite.helpers.allowed"): "which helpers a program type may call",
    ("jit", "ebpflite.helpers.registry"): "which helpers have native versions",
    ("jit", "ebpflite.helpers.maps.*"): "map storage layouts native code reads",
}
#: subpackages of ``ebpflite`` that are layers of their own; every other ``ebpflite.*`` module is the API
SUBPACKAGE_LAYERS = ("vm", "loader", "helpers", "verifier", "jit", "runtime", "cli")


def layer_of(module: str) -> str:
    if module.startswith("?"):
        return "?"
    parts = module.split(".")
    assert parts[0] == "ebpflite", module
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGE_LAYERS else "api"


def allowed(source_layer: str, target: str) -> bool:
    """May a module of ``source_layer`` import module ``target``?"""
    target_layer = layer_of(target)
    if target_layer == source_layer:
        return True
    for rule in RULES[source_layer]:
        if rule.endswith(".*"):
            package = rule[:-2]
            if target == package or target.startswith(package + "."):
                return True
        elif rule == target_layer or target == rule:
            return True
    return False


def package_dirs() -> dict[str, Path]:
    """pyproject's ``[tool.setuptools.package-dir]``: package name -> directory."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
    return {name: ROOT / path for name, path in re.findall(r'^"([\w.]+)"\s*=\s*"([^"]+)"', section, re.M)}


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package, by its installed name."""
    dirs = package_dirs()
    for package, directory in dirs.items():
        for path in sorted(directory.rglob("*.py")):
            rel = path.relative_to(directory).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if any(name.startswith(other + ".") or name == other
                   for other in dirs if other != package and other.startswith(package + ".")):
                continue  # mapped to its own directory (ebpflite.vm lives in vm/, not ebpflite/vm)
            yield name, path


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported ebpflite module) for every import statement, wherever it is, and for every
    module named by a string: passed to ``importlib.import_module`` (an f-string too, see
    :func:`_formatted_module`) or written in a table (tuple, list, set, dict values) of module
    names like ``runtime/engines.py`` ``ENGINE_CLASSES``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and _call_name(node) in ("import_module", "__import__") and node.args:
            name = node.args[0]
            if isinstance(name, ast.JoinedStr):
                yield from _formatted_module(name)
            elif isinstance(name, ast.Constant) and _is_module_name(name.value):
                yield node.lineno, name.value
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):  # tables of module names
            for item in (node.values if isinstance(node, ast.Dict) else node.elts):
                if isinstance(item, ast.Constant) and _is_module_name(item.value):
                    yield item.lineno, item.value
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ebpflite"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("ebpflite"):
                continue
            for alias in node.names:  # `from ebpflite.helpers import registry` imports a module
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if _is_module(sub) else target


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _is_module_name(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"ebpflite(\.\w+)+", value) is not None and _is_module(value)


def _formatted_module(node: ast.JoinedStr) -> Iterator[tuple[int, str]]:
    """A module name built by an f-string: ``f"ebpflite.cli.{name}"`` names a module of the
    package ``ebpflite.cli``, checked as an import of that package; ``f"{__name__}.{x}"`` one of
    the module's own package. One whose layer the text leaves open (``f"ebpflite.{x}"``) is
    reported as importing ``?``, which no rule allows: write such names out."""
    first = node.values[0] if node.values else None
    if isinstance(first, ast.FormattedValue) and isinstance(first.value, ast.Name) and first.value.id == "__name__":
        return
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith("ebpflite.")):
        return
    package = first.value.rsplit(".", 1)[0]
    if package in ("ebpflite", "") or not _is_module(package):
        yield node.lineno, f"? (a module of {package} named at run time)"
    else:
        yield node.lineno, package


def _is_module(name: str) -> bool:
    parts = name.split(".")
    for package, directory in sorted(package_dirs().items(), key=lambda kv: -len(kv[0])):
        if name == package or name.startswith(package + "."):
            rest = parts[len(package.split(".")):]
            candidate = directory.joinpath(*rest)
            return candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file()
    return False


def graph() -> dict[tuple[str, str], list[str]]:
    """(source layer, target layer) -> ["module:line imports target", ...] across layers."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules():
        source = layer_of(module)
        for line, target in imports(module, path):
            if layer_of(target) != source:
                edges[source, layer_of(target)].append(f"{module}:{line} imports {target}")
    return edges


def test_every_import_follows_the_layering():
    found = list(modules())
    assert len(found) > 100 and {layer_of(m) for m, _ in found} == set(RULES)
    wrong = [f"{module}:{line} ({layer_of(module)}) imports {target} ({layer_of(target)})"
             for module, path in found for line, target in imports(module, path)
             if not allowed(layer_of(module), target)]
    assert not wrong, "imports against the layering (tests/test_layering.py RULES):\n" + "\n".join(wrong)


def test_the_rules_have_no_cycle():
    order: list[str] = []
    for layer in RULES:  # RULES is written lowest first: each layer may only use earlier ones
        below = {layer_of(rule) if rule.startswith("ebpflite") else rule for rule in RULES[layer]}
        assert below <= set(order), f"{layer} may import {below - set(order)}, which is not below it"
        order.append(layer)


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("vm", "ebpflite.helpers.registry", False), ("vm", "ebpflite.vm.isa", True),
    ("verifier", "ebpflite.helpers.registry", True), ("verifier", "ebpflite.helpers.contexts", False),
    ("jit", "ebpflite.helpers.maps.array", True), ("jit", "ebpflite.verifier", False),
    ("cli", "ebpflite.jit.batch", False), ("cli", "ebpflite.runtime.replay", True),
    ("api", "ebpflite.cli", False), ("runtime", "ebpflite.api", False),
    # a module entry allows that module only; `package.*` the package and what is in it
    ("cli", "ebpflite.loader", True), ("cli", "ebpflite.loader.objfile", False),
    ("cli", "ebpflite.verifier", True), ("cli", "ebpflite.verifier.fixpoint", False),
    ("cli", "ebpflite.vm.interp", False), ("cli", "ebpflite.jit.views", False),
    ("jit", "ebpflite.helpers.maps", True), ("jit", "ebpflite.helpers.mapsx", False),
    ("api", "ebpflite.jit", False), ("api", "? (a module of ebpflite named at run time)", False),
])
def test_rule_lookup(source, target, ok):
    assert allowed(source, target) is ok


def test_the_walk_sees_function_level_and_from_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import os\nfrom ebpflite.helpers import registry\n"
                    "def f():\n    from ebpflite.jit.batch import run_batch\n    import ebpflite.api\n")
    assert list(imports("ebpflite.vm.m", path)) == [(2, "ebpflite.helpers.registry"), (4, "ebpflite.jit.batch"),
                                                   (5, "ebpflite.api")]


def test_the_walk_sees_modules_named_by_strings(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('import importlib\nimportlib.import_module("ebpflite.jit.batch")\n'
                    'VIEWS = {"ir": ("ebpflite.jit.views", "ir_text"), "doc": "ebpflite.jit is the JIT"}\n'
                    'def f(name):\n    importlib.import_module(f"ebpflite.cli.{name}")\n'
                    '    importlib.import_module(f"{__name__}.{name}")\n'
                    '    return importlib.import_module(f"ebpflite.{name}")\n')
    assert sorted(imports("ebpflite.api", path)) == [
        (2, "ebpflite.jit.batch"), (3, "ebpflite.jit.views"), (5, "ebpflite.cli"),
        (7, "? (a module of ebpflite named at run time)")]


def test_every_single_module_entry_says_why():
    for layer, rule in RULES.items():
        for entry in rule:
            if entry.startswith("ebpflite."):
                assert WHY.get((layer, entry)), f"RULES[{layer!r}] allows {entry} without saying why in WHY"
    assert set(WHY) <= {(layer, entry) for layer, rule in RULES.items() for entry in rule}


def rules_table() -> str:
    """The rules as the markdown tables docs/architecture.md shows: what each layer may
    import, then why each single module a layer reaches past its rule's layers is there."""
    rows = ["| layer | may import |", "| --- | --- |"]
    for layer, rule in RULES.items():
        rows.append(f"| `{layer}` | {', '.join(f'`{r}`' for r in rule) or 'nothing of the project'} |")
    rows += ["", "| layer | single module | why |", "| --- | --- | --- |"]
    rows += [f"| `{layer}` | `{module}` | {why} |" for (layer, module), why in WHY.items()]
    return "\n".join(rows)


def test_architecture_doc_shows_these_rules():
    text = ARCHITECTURE.read_text()
    assert rules_table() in text, "docs/architecture.md must contain, verbatim:\n" + rules_table()


def test_public_modules_of_the_cli_rule_are_documented():
    docs = (ROOT / "docs" / "api.md").read_text() + ARCHITECTURE.read_text()
    for rule in RULES["cli"]:
        if rule.startswith("ebpflite."):
            path = "/".join(rule.split(".")[1:])
            assert rule in docs or f"{path}.py" in docs or f"{path}/" in docs, rule


def counts_by_direction() -> dict[tuple[str, str], int]:
    """How many imports cross from one layer to another (the import graph, for reports)."""
    return {pair: len(edges) for pair, edges in sorted(graph().items())}


if __name__ == "__main__":  # python tests/test_layering.py: the import graph by direction
    counts = counts_by_direction()
    for (source, target), n in counts.items():
        print(f"{source:>8} -> {target:<8} {n}")
    print(f"{sum(counts.values())} cross-layer imports in {len(counts)} directions")
