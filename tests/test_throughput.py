"""adamspec bench prints numbers (it asserts nothing about speed; benchmarks are not tests)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="adamspec bench times torch steps")


@pytest.mark.parametrize("adapter", ["torch.adamw.fused", "numpy.adamw"])
def test_bench_reports_rates_and_a_roofline(adapter):
    proc = subprocess.run([sys.executable, "-m", "adamspec", "bench", "--adapter", adapter, "--numel", "4096",
                           "--reps", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["adapter"] == adapter and r["numel"] == 4096
    assert r["param_steps_per_s"] > 0 and r["copy_bytes_per_s"] > 0
    assert r["effective_bytes_per_s"] == pytest.approx(28 * 4096 / r["seconds_per_step"])
