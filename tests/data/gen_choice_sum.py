"""Regenerates choice_sum.json: exact tails of sums of independent uniform choices.

Run: python3 tests/data/gen_choice_sum.py > tests/data/choice_sum.json
Each case lists tables (one per position; T picks one entry of each uniformly at random) and
thresholds t with ln P[T >= t], computed by multiplying the tables' generating functions with
Python integers (counts of configurations, no floating point until the final logarithm). This
is independent of the f64 convolution in src/stats.rs.
"""
import json
import math
import random


def tail_counts(tables):
    """Configuration counts of every sum value: {sum: count}."""
    dist = {0: 1}
    for tab in tables:
        new = {}
        for s, c in dist.items():
            for v in tab:
                new[s + v] = new.get(s + v, 0) + c
        dist = new
    return dist


def case(name, tables, ts, max_bins):
    dist = tail_counts(tables)
    total = 1
    for tab in tables:
        total *= len(tab)
    span = sum(max(r) - min(r) for r in tables)
    step = max(1, -(-span // max_bins))

    def ln_tail(t):
        tail = sum(c for s, c in dist.items() if s >= t)
        return "-inf" if tail == 0 else repr(math.log(tail) - math.log(total))

    out = []
    for t in ts:
        row = {"t": t, "ln_sf": ln_tail(t)}
        if step > 1:
            # Rounding moves the threshold down by less than len(tables) * step.
            row["ln_sf_lowered"] = ln_tail(t - len(tables) * step)
        out.append(row)
    return {"name": name, "tables": tables, "max_bins": max_bins, "thresholds": out}


def main():
    rng = random.Random(20261207)
    cases = [case("two dice", [[1, 2, 3, 4, 5, 6]] * 2, [0, 2, 7, 11, 12, 13], 1 << 16)]
    # Coded-account shaped: 64 positions x 16 symbols, small green counts, one strong column
    # per position (a source) plus noise; thresholds down to the very top.
    tables = []
    for _ in range(64):
        n = rng.randint(0, 40)
        row = [sum(rng.random() < 0.25 for _ in range(n)) for _ in range(16)]
        row[rng.randrange(16)] += rng.randint(0, 15)
        tables.append(row)
    lo = sum(min(r) for r in tables)
    hi = sum(max(r) for r in tables)
    mean = sum(sum(r) / 16 for r in tables)
    ts = sorted({lo, int(mean), int(mean) + 20, int(mean) + 60, int(mean) + 120, hi - 10, hi, hi + 1})
    cases.append(case("64 x 16, exact", tables, ts, 1 << 16))
    # Uneven table sizes and repeated entries.
    tables = [[rng.randint(0, 9) for _ in range(rng.randint(1, 7))] for _ in range(30)]
    hi = sum(max(r) for r in tables)
    cases.append(case("uneven tables", tables, [hi // 2, hi - 12, hi - 3, hi], 1 << 16))
    # Wide values with few bins: src/stats.rs rounds (step > 1) and must bound from above.
    tables = [[rng.randint(0, 10_000) for _ in range(16)] for _ in range(4)]
    hi = sum(max(r) for r in tables)
    mean = int(sum(sum(r) / 16 for r in tables))
    cases.append(case("rounded", tables, [mean, mean + 5000, hi - 3000, hi - 500, hi], 1000))
    print(json.dumps({"cases": cases}, indent=1))


main()
