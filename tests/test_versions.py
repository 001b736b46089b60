"""The one versions line ``make test`` prints: every library named, with the version that is really imported."""

from __future__ import annotations

import subprocess
import sys

import numpy
import PIL
import pytest

from fcn_studio.versions import DISTRIBUTIONS, version_of, versions_line


@pytest.mark.parametrize("library,module", [("numpy", numpy), ("pillow", PIL)])
def test_versions_are_those_of_the_imported_modules(library, module):  # noqa: ANN001
    assert version_of(library) == module.__version__


def test_pyside6_is_found_under_whichever_distribution_installed_it():
    PySide6 = pytest.importorskip("PySide6")
    assert version_of("PySide6") == PySide6.__version__  # PySide6-Essentials here: not "not installed"


def test_an_absent_library_says_so():
    assert version_of("no-such-distribution-fcn-studio") == "not installed"


def test_the_line_names_every_library_once_and_runs_without_importing_torch():
    out = subprocess.run([sys.executable, "-c", "import sys; from fcn_studio.versions import versions_line; "
                          "print(versions_line()); print('torch' in sys.modules)"], capture_output=True, text=True, check=True)
    line, torch_loaded = out.stdout.strip().splitlines()
    assert torch_loaded == "False" and line == versions_line()
    assert line.startswith("Python ") and "\n" not in line
    for library in DISTRIBUTIONS:
        assert line.count(f" {library} ") == 1 or line.startswith(f"{library} "), line
