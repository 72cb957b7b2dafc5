"""Run code in a fresh interpreter: for inputs that crash a process (a SIGSEGV would kill the test worker)."""

from __future__ import annotations

import os
import subprocess
import sys


def run_python(code: str, *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with this test run's import path and environment; a SIGSEGV shows as returncode -11."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)
