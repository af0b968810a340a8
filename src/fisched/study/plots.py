"""Figures drawn from result files: importance bars and curves, accuracy vs dimensions."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def importance_plots(table: list[dict], out_dir: str | Path, by: str = "total_gain",
                     top_n: int = 25) -> list[Path]:
    """Top-N bars, cumulative share curve, and share by feature group."""
    plt = _plt()
    out_dir = Path(out_dir)
    paths = []
    share = np.array([r[f"{by}_share"] for r in table])
    top = table[:top_n]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(top) + 1.2))
    ax.barh([r["name"] for r in top][::-1], [r[f"{by}_share"] for r in top][::-1],
            color="#4477aa")
    ax.set_xlabel(f"share of total {by}")
    ax.set_title(f"Top {len(top)} features by {by}")
    fig.tight_layout()
    paths.append(out_dir / "importance_top.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    cum = np.cumsum(share)
    ax.plot(np.arange(1, len(cum) + 1), cum, color="#4477aa")
    for level in (0.9, 0.95, 0.99):
        k = int(np.searchsorted(cum, level - 1e-12) + 1)
        ax.axhline(level, color="#bbbbbb", lw=0.8)
        ax.annotate(f"{k} features: {level:.0%}", (k, level), fontsize=8,
                    xytext=(5, -12), textcoords="offset points")
    ax.set_xlabel("features kept (by importance)")
    ax.set_ylabel(f"cumulative share of {by}")
    fig.tight_layout()
    paths.append(out_dir / "importance_cumulative.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    groups: dict[str, float] = {}
    for r in table:
        groups[r["group"]] = groups.get(r["group"], 0.0) + r[f"{by}_share"]
    names = sorted(groups, key=groups.get)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.barh(names, [groups[n] for n in names], color="#228833")
    ax.set_xlabel(f"share of total {by}")
    ax.set_title("Importance by feature group")
    fig.tight_layout()
    paths.append(out_dir / "importance_groups.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def dims_curve(results: dict, path: str | Path) -> Path:
    """Top-1 score and prediction time against kept dimensions for the top-k sweeps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax2 = ax.twinx()
    sweeps: dict[str, list] = {}
    for name, r in results.items():
        if r["policy"] == "top-k":
            sweeps.setdefault(r["labels"], []).append((r["dims"], r["top1"],
                                                       r["predict_s_per_10k"]))
    for (labels, pts), color in zip(sorted(sweeps.items()), ["#4477aa", "#ee6677", "#228833"]):
        pts.sort()
        d, t1, ps = zip(*pts)
        ax.plot(d, t1, "o-", color=color, label=f"top-1, {labels} labels")
        ax2.plot(d, ps, "x--", color=color, alpha=0.6, label=f"predict s/10k, {labels}")
    if "stock" in results:
        ax.axhline(results["stock"]["top1"], color="#666666", lw=0.8, ls=":",
                   label="stock (164, stock labels)")
    ax.set_xlabel("feature dimensions kept")
    ax.set_ylabel("top-1 score (leave-task-out)")
    ax2.set_ylabel("prediction seconds per 10k programs")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def tuning_curve(points: list[dict], path: str | Path, title: str = "") -> Path:
    """A workdir's tuning curve (``workdir.read_curve``): the end-to-end estimate against
    measured trials and against tuning time, from the point every task had a valid schedule."""
    plt = _plt()
    shown = [p for p in points if p["estimate_ms"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, key, label in ((axes[0], "trials", "measured trials"),
                           (axes[1], "seconds", "tuning time (s)")):
        ax.step([p[key] for p in shown], [p["estimate_ms"] for p in shown], where="post",
                color="#4477aa")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("estimated end-to-end (ms)")
    if not shown:
        axes[0].text(0.5, 0.5, "no task set complete yet", ha="center",
                     transform=axes[0].transAxes)
    fig.suptitle(title or "tuning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
