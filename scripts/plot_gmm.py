#!/usr/bin/env python3
"""Plot the GMM BIF experiment: `python3 scripts/plot_gmm.py DIR` reads DIR/gmm_points.csv
(written by `unlearn experiment configs/gmm_bif.json --out DIR`) and writes DIR/gmm_bif.png:
one panel per method/solver with the remaining data, the removed points, the origin / processed /
target centres and, for SG-MCMC, the processed and target sample clouds."""
import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out_dir):
    pts = defaultdict(list)  # (kind, method, solver) -> [(x, y)]
    with open(os.path.join(out_dir, "gmm_points.csv")) as f:
        for row in csv.DictReader(f):
            pts[(row["kind"], row["method"], row["solver"])].append((float(row["x1"]), float(row["x2"])))
    panels = sorted({(m, s) for (k, m, s) in pts if k == "processed_centre"})
    if not panels:
        sys.exit("plot_gmm.py: no processed centres in gmm_points.csv")
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 5 * rows), squeeze=False)

    def scatter(ax, key, **kw):
        if pts.get(key):
            xs, ys = zip(*pts[key])
            ax.scatter(xs, ys, **kw)

    for ax, (method, solver) in zip(axes.flat, panels):
        scatter(ax, ("data", "", ""), s=3, c="lightgray", label="remaining data")
        scatter(ax, ("removed", "", ""), s=3, c="salmon", label="removed")
        scatter(ax, ("target_sample", method, ""), s=6, c="tab:green", alpha=0.3, label="target samples")
        scatter(ax, ("processed_sample", method, solver), s=6, c="tab:blue", alpha=0.3, label="processed samples")
        scatter(ax, ("origin_centre", method, ""), s=90, marker="x", c="black", label="origin")
        scatter(ax, ("processed_centre", method, solver), s=90, marker="+", c="tab:blue", label="processed")
        scatter(ax, ("target_centre", method, ""), s=60, marker="o", facecolors="none", edgecolors="tab:green",
                label="target")
        ax.set_title(f"{method} / {solver}")
        ax.set_aspect("equal", adjustable="datalim")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(loc="best", fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "gmm_bif.png")
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: plot_gmm.py DIR")
    main(sys.argv[1])
