#!/usr/bin/env python3
"""Writes data/poisson_300.csv: 300 counts y ~ Poisson(exp(0.3 + 0.6 x1 - 0.4 x2)), x ~ N(0, I),
seeded (random.Random(7)), standard library only, so that the file can be regenerated anywhere."""
import math
import pathlib
import random

rng = random.Random(7)


def poisson(rate):
    # Knuth's method: fine for the small rates here (exp(eta) < 20).
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


out = pathlib.Path(__file__).with_name("data") / "poisson_300.csv"
out.parent.mkdir(exist_ok=True)
with out.open("w") as f:
    f.write("id,x1,x2,count\n")
    for i in range(300):
        x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
        f.write(f"{i},{x1:.6f},{x2:.6f},{poisson(math.exp(0.3 + 0.6 * x1 - 0.4 * x2))}\n")
print(f"wrote {out}")
