"""Stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com, which is not
reachable from this project's build machines (PyPI is). ansible-test runs it with the virtual environment's Python
and the pip version to install: pip comes from the standard library's ensurepip, then from PyPI at that version.
tests/sanity/test_sanity.py puts it where ansible-test looks for its cached copy."""

from __future__ import annotations

import subprocess
import sys

# ansible-test asks for a bare pip (no setuptools, no wheel): pip install knows neither option.
ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", "--upgrade", *ARGS], check=True)
