"""adamspec plot: the decay mechanism from the exact reference, and headroom from a report."""

import subprocess
import sys

import numpy as np

from adamspec.conformance.plots import decay_factors


def test_decay_factors_show_the_mechanism():
    l2 = decay_factors([1.0, 1e-4], lr=0.1, wd=0.1, t=1001, mode="adam_l2")
    aw = decay_factors([1.0, 1e-4], lr=0.1, wd=0.1, t=1001, mode="adamw")
    assert f"{l2[0]:.6f}" == "0.999204" and f"{l2[1]:.6f}" == "0.924126"  # exact; fp32 prints …127
    assert np.all(aw == 1 - 0.1 * 0.1)


def test_plot_commands_write_images(tmp_path):
    decay = tmp_path / "decay.png"
    proc = subprocess.run([sys.executable, "-m", "adamspec", "plot", "decay", "-o", str(decay)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert decay.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = tmp_path / "r.json"
    subprocess.run([sys.executable, "-m", "adamspec", "run", "--adapter", "numpy.adamw", "--clause", "AW-3",
                    "AD-7", "--format", "json", "-o", str(report), "-q"], check=True)
    head = tmp_path / "head.svg"
    proc = subprocess.run([sys.executable, "-m", "adamspec", "plot", "headroom", str(report), "-o", str(head)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in head.read_text()
