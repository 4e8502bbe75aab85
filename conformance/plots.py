"""Pictures people would rather look at than read (matplotlib, an optional extra).

``decay``: the paper's mechanism from the exact reference — the effective per-step decay
factor against v for Adam+L2 and AdamW. ``headroom``: per clause, the share of the bound a
run used (from a JSON report).
"""

from __future__ import annotations

import json

import numpy as np

from adamspec.reference import Hyper, State, step


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'adamspec[plot]'") from None
    return plt


def decay_factors(v_values, lr: float, wd: float, t: int, mode: str, theta: float = 1.0):
    """Exact θ_t/θ_{t−1} with g = 0 and m = 0 at step t, for each injected v (SPEC AW-3, L2-3)."""
    h = Hyper(lr=lr, weight_decay=wd, mode=mode)
    v = np.asarray(v_values, dtype=np.float64)
    s = State.from_floats(np.full(v.shape, theta), np.zeros(v.shape), v, t - 1)
    after = step(s, np.zeros(v.shape), h)
    return np.array([float(x) for x in after.theta.reshape(-1)]) / theta


def plot_decay(path: str, lr: float = 0.1, wd: float = 0.1, t: int = 1001) -> str:
    plt = _pyplot()
    v = np.logspace(-8, 2, 121)
    l2, aw = decay_factors(v, lr, wd, t, "adam_l2"), decay_factors(v, lr, wd, t, "adamw")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.semilogx(v, l2, label="Adam+L2 (coupled): divided by √v̂")
    ax.semilogx(v, aw, label="AdamW (decoupled): 1 − lr·λ for every v")
    for vv in (1.0, 1e-4):
        f = decay_factors([vv], lr, wd, t, "adam_l2")[0]
        ax.annotate(f"{f:.6f}", (vv, f), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_xlabel("second moment v before the step")
    ax.set_ylabel("effective decay factor θ_t / θ_{t−1}")
    ax.set_title(f"g = 0, m = 0, lr = {lr:g}, λ = {wd:g}, t = {t} (exact reference)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_headroom(report_path: str, path: str) -> str:
    plt = _pyplot()
    with open(report_path, encoding="utf-8") as fh:
        report = json.load(fh)
    rows = [(c["id"], c["max_bound_fraction"]) for c in report["properties"]
            if isinstance(c.get("max_bound_fraction"), (int, float)) and c["verdict"] == "pass"]
    if not rows:
        raise ValueError(f"{report_path} has no passing clause with a bound fraction")
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.5))
    ids, fr = zip(*rows)
    ax.barh(ids, fr)
    ax.axvline(1.0, color="red", linewidth=1, label="the bound (C·B)")
    ax.set_xlabel("worst |impl − exact| / (C·B) per clause")
    ax.set_title(f"{report['adapter']}: headroom ({report['profile']} profile)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
