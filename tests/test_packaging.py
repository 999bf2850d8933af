"""The package list in pyproject.toml must name every subpackage.

With setuptools' ``package-dir`` mapping the list is explicit, so a new
folder with an ``__init__.py`` that is not listed would work in an editable
install but be missing from a wheel. This test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    found = set()
    for package, folder in dirs.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            name = ".".join((package, *rel.parts)) if rel.parts else package
            # a subfolder of a mapped folder that is itself mapped is counted once
            found.add(name)
    missing = sorted(found - listed)
    assert not missing, f"add these to [tool.setuptools] packages: {missing}"


def test_headers_ship_with_the_package():
    from ebpflite import include

    folder = Path(include.__file__).parent
    assert (folder / "bpf" / "bpf_helpers.h").is_file()
