"""Regenerates tails_mpmath.json: exact binomial and gamma upper tails from mpmath (50 digits).

Run: pip install mpmath && python3 tests/data/gen_tails.py > tests/data/tails_mpmath.json
The binomial tail is summed term by term from the pmf (an independent method from the
continued fraction used in src/stats.rs); the gamma tail uses mpmath.gammainc.
"""
import json
import mpmath as mp

mp.mp.dps = 50


def binom_ln_sf(k, n, p):
    p = mp.mpf(p)
    q = 1 - p
    if k == 0:
        return mp.mpf(0)
    mean = n * p

    def ln_pmf(j):
        return (mp.loggamma(n + 1) - mp.loggamma(j + 1) - mp.loggamma(n - j + 1)
                + j * mp.log(p) + (n - j) * mp.log(q))

    if k >= mean:
        t0 = ln_pmf(k)
        s, term, j = mp.mpf(1), mp.mpf(1), k
        while j < n:
            term *= mp.mpf(n - j) / (j + 1) * p / q
            j += 1
            s += term
            if term < s * mp.mpf(10) ** -45:
                break
        return t0 + mp.log(s)
    # lower tail P[X <= k-1], summed downwards, then complement
    t0 = ln_pmf(k - 1)
    s, term, j = mp.mpf(1), mp.mpf(1), k - 1
    while j > 0:
        term *= mp.mpf(j) / (n - j + 1) * q / p
        j -= 1
        s += term
        if term < s * mp.mpf(10) ** -45:
            break
    return mp.log(1 - mp.exp(t0) * s)


binom = []
for n in [10, 100, 1000, 10**4, 10**5, 10**6, 10**7]:
    for p in ["0.25", "0.5", "0.1"]:
        pf = float(p)
        mean = n * pf
        sd = (n * pf * (1 - pf)) ** 0.5
        ks = set()
        for z in [-2, 0, 1, 3, 6, 10, 20, 40, 80]:
            k = int(round(mean + z * sd))
            if 0 < k <= n:
                ks.add(k)
        ks.add(n)
        for k in sorted(ks):
            binom.append({"n": n, "k": k, "p": pf, "ln_sf": mp.nstr(binom_ln_sf(k, n, p), 25)})

gamma = []
for a in [1, 2.5, 10, 100, 1000, 10**5, 10**7]:
    sd = a ** 0.5
    for z in [-3, -1, 0, 1, 3, 6, 10, 20, 40]:
        x = a + z * sd
        if x <= 0:
            continue
        v = mp.gammainc(mp.mpf(a), mp.mpf(x), mp.inf, regularized=True)
        gamma.append({"a": a, "x": x, "ln_sf": mp.nstr(mp.log(v), 25)})

print(json.dumps({"source": "mpmath 50-digit, tests/data/gen_tails.py",
                  "binomial": binom, "gamma": gamma}, indent=1))
