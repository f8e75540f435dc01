"""Python 3.11-3.13: what the build derives from source code is the same under each.

The full byte comparison (a build per interpreter) is scripts/cross_python_build.py and
the python-versions CI workflow: two fresh venvs take minutes. Here, in seconds: the
declared range agrees everywhere, and the pre-annotation rules' fingerprint -- which names
the model version printed in the card -- is computed by every other interpreter pyenv
has, on the same source, to the same value.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from helpers import ROOT
from sahelwire.labelstudio import prelabel

PYENV = Path.home() / ".pyenv" / "versions"


def test_the_supported_range_is_declared_once_and_agrees() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.11,<3.14"
    bootstrap = (ROOT / "scripts/bootstrap.py").read_text()
    assert "SUPPORTED = ((3, 11), (3, 12), (3, 13))" in bootstrap
    workflow = (ROOT / ".github/workflows/python-versions.yml").read_text()
    assert re.search(r'python-version: \["3\.11", "3\.12", "3\.13"\]', workflow)


def other_interpreters() -> list[Path]:
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = []
    for minor in ("3.11", "3.12", "3.13"):
        if minor == mine:
            continue
        exes = sorted(PYENV.glob(f"{minor}.*/bin/python{minor}"))
        if exes:
            found.append(exes[-1])
    return found


@pytest.mark.skipif(not other_interpreters(), reason="no other Python 3.11-3.13 under pyenv")
def test_rules_fingerprint_is_the_same_under_every_python() -> None:
    # The function is pure (ast + hashlib): run its own source, on prelabel's source.
    function = textwrap.dedent(inspect.getsource(prelabel.rules_fingerprint))
    script = (
        "import hashlib, inspect, sys\n"
        + function
        + "\nprint(rules_fingerprint(open(sys.argv[1], encoding='utf-8').read()))\n"
    )
    module = inspect.getsourcefile(prelabel)
    assert module
    ours = prelabel.rules_fingerprint()
    for exe in other_interpreters():
        result = subprocess.run(
            [str(exe), "-c", script, module], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == ours, exe
