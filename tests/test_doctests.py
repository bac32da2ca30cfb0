"""Every docstring example of the installed package runs, ``stitch.registry`` and ``stitch.adapters`` included.

The examples are collected from the imported modules (not from files), so the repository folders
``registry/`` and ``adapters/`` are tested under the names they are installed as.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import stitch

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    return sorted(
        {"stitch", *(m.name for m in pkgutil.walk_packages(stitch.__path__, "stitch.")
                     if not m.name.endswith("__main__"))}
    )


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in _module_names():
        module = importlib.import_module(name)
        tests += [t for t in finder.find(module, name) if t.examples]
    return sorted(tests, key=lambda t: t.name)


@pytest.mark.parametrize("example", _examples(), ids=lambda t: t.name)
def test_docstring_example(example: doctest.DocTest) -> None:
    import torch

    from stitch.utils import names

    loader, threads = names._loader, torch.get_num_threads()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out: list[str] = []
    runner.run(example, out=out.append, clear_globs=True)
    if runner.failures:
        pytest.fail("".join(out), pytrace=False)
    # an example must leave no global state behind: later tests would depend on the order they run in
    assert names._loader is loader, "the example replaced the plugin loader"
    assert torch.get_num_threads() == threads, "the example changed torch's thread count"
