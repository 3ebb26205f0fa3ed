#!/usr/bin/env python3
"""Compare two results.csv files of a study cell by cell (the studies' acceptance check).

    python3 scripts/compare_results.py OLD/results.csv NEW/results.csv [--ignore-timing]

Rows are matched by position (the studies write them in a fixed order) and must name the same
method in their text columns. For each numeric column: how many cells are identical, the largest
absolute and relative difference. Text cells must be equal. Exit status 0 when every compared cell
is identical, 1 otherwise (differences are printed either way). Timing columns (names with
"seconds") differ from run to run; --ignore-timing leaves them out of the verdict.
"""
import argparse
import csv
import math
import sys


def number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--ignore-timing", action="store_true", help="leave columns named *seconds* out of the verdict")
    a = p.parse_args()
    with open(a.old, newline="") as f:
        old = list(csv.reader(f))
    with open(a.new, newline="") as f:
        new = list(csv.reader(f))
    if old[0] != new[0]:
        print(f"headers differ:\n  old {old[0]}\n  new {new[0]}")
        return 1
    if len(old) != len(new):
        print(f"row counts differ: old {len(old) - 1}, new {len(new) - 1}")
        return 1
    header, ok = old[0], True
    print(f"{'column':<28} {'identical':>10} {'max |diff|':>12} {'max rel':>12}  worst row")
    for j, name in enumerate(header):
        same, max_abs, max_rel, worst, text_diff = 0, 0.0, 0.0, "", 0
        for o, n in zip(old[1:], new[1:]):
            if o[j] == n[j]:
                same += 1
                continue
            x, y = number(o[j]), number(n[j])
            if x is None or y is None:
                text_diff += 1
                worst = f"{o[0]}: {o[j]!r} vs {n[j]!r}"
                continue
            d = abs(x - y) if not (math.isnan(x) and math.isnan(y)) else 0.0
            rel = d / max(abs(x), abs(y)) if max(abs(x), abs(y)) > 0 else 0.0
            if d > max_abs:
                worst = f"{o[0]}: {o[j]} vs {n[j]}"
            max_abs, max_rel = max(max_abs, d), max(max_rel, rel)
        rows = len(old) - 1
        timing = "seconds" in name
        if same < rows and not (timing and a.ignore_timing):
            ok = False
        note = " (timing)" if timing else ""
        note += f" ({text_diff} text cells differ)" if text_diff else ""
        print(f"{name:<28} {same:>5}/{rows:<4} {max_abs:>12.4g} {max_rel:>12.4g}  {worst}{note}")
    print("identical" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
