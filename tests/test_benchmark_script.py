"""scripts/benchmark.py runs: its quick mode against the same loopback servers (the figures
themselves live in docs/email.md, never in a timed test)."""

import os
import re
import subprocess
import sys

import pytest
from helpers import PACK_DIR


@pytest.mark.parametrize("benchmark, ratios", [("transaction", 2), ("latency", 1)])
def test_the_email_benchmarks_run_and_print_their_ratios(benchmark, ratios):
    done = subprocess.run([sys.executable, os.path.join(PACK_DIR, "scripts", "benchmark.py"),
                           benchmark, "--quick"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.findall(r"ratio:? (?:one transaction )?([0-9.]+)x", done.stdout)
    assert len(found) == ratios and all(float(r) > 0 for r in found), done.stdout
