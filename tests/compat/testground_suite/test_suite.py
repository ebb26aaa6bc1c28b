"""Testground's own ``integration_tests/*.sh``, unchanged, against our ``testground``
(run_suite.sh). Needs a Testground checkout in ``TESTGROUND_SRC``, Docker and the
internet for Go modules, and takes tens of minutes: `.ci/run` does not run it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SUITE = Path(__file__).with_name("run_suite.sh")
SOURCE = os.environ.get("TESTGROUND_SRC", "")


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
@pytest.mark.skipif(not SOURCE, reason="TESTGROUND_SRC (a Testground checkout) is not set")
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs docker")
def test_testground_integration_suite() -> None:
    done = subprocess.run(["bash", str(SUITE), SOURCE], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " FAIL " not in done.stdout
