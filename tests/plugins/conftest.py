"""The example plugin (examples/calcifer-example-plugin), really installed for these tests.

It is built (from a copy of its folder) and installed with pip into a temporary folder (``pip install
--no-deps --no-build-isolation --no-index --target``: no network, nothing written to the shared venv;
setuptools and wheel come from the venv, wheel being in the dev extra), which is put on ``sys.path`` so
``importlib.metadata`` finds its dist-info and entry points exactly as for an installed package; the
process is then wired again (``wiring.build``/``install``) and put back as it was afterwards.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calcifer import wiring
from calcifer.monitoring import checks
from calcifer.plugins import registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "calcifer-example-plugin"
NAME = "calcifer-example-plugin"


def _rewire() -> None:
    importlib.invalidate_caches()
    checks.REGISTRY.clear()
    checks.OWNERS.clear()
    checks._loaded = False
    wiring.install(wiring.build())


@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("example-plugin")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and xdist workers
    # build at the same time.
    source = tmp_path_factory.mktemp("example-source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, cwd=source)
    sys.path.insert(0, str(target))
    _rewire()
    yield target
    sys.path.remove(str(target))
    for module in [m for m in sys.modules if m.startswith("calcifer_example_plugin")]:
        del sys.modules[module]
    registry.DISABLED.clear()
    _rewire()
