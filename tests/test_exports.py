"""The public names are exactly the documented ones (docs/api.md), and each is real."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import hubactors

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def documented_names() -> set[str]:
    text = API_DOC.read_text()
    bullets = [line for line in text.splitlines() if line.lstrip().startswith("- ")]
    # Every name in backticks on a bullet (or its indented continuation) is an export.
    names: set[str] = set()
    in_bullet = False
    for line in text.splitlines():
        in_bullet = line.startswith("- ") or (in_bullet and line.startswith("  "))
        if in_bullet:
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line))
    assert bullets, "docs/api.md lists no names"
    return names


def test_the_exports_are_exactly_the_documented_names() -> None:
    assert set(hubactors.__all__) == documented_names()


def test_every_export_exists_and_nothing_public_is_left_unlisted() -> None:
    for name in hubactors.__all__:
        assert hasattr(hubactors, name), name
    modules = {"actors", "config", "deployment", "errors", "hub", "model"}
    modules |= {"providers", "resilience", "routing", "cli", "server", "shared", "cache"}
    public = {n for n in dir(hubactors) if not n.startswith("_")} - modules
    assert public == set(hubactors.__all__) - {"__version__"}


def test_every_exported_class_and_function_says_what_it_is() -> None:
    for name in hubactors.__all__:
        obj = getattr(hubactors, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
            assert obj.__module__.startswith("hubactors"), name
