"""Exact upper tails of vLLM's dual-key Gumbel score S = (1 - a) G_A + a G_B, G ~ Gamma(n, 1)
independent (the null law of the summed dual-key scores), by mpmath quadrature at 30 digits,
next to the moment-matched Q(n / v, s / v), v = (1 - a)^2 + a^2, that vLLM reports. Scores sit
z null standard deviations above the null mean. Writes dual_key_exact.json.

Run: pip install mpmath && python3 tests/data/gen_dual_key_exact.py
"""
import mpmath as mp, json
mp.mp.dps = 30
def exact_sf(n, a, s):
    s = mp.mpf(s); a = mp.mpf(a); b = 1 - a
    # S = b*GA + a*GB
    up = s / b
    f = lambda g: mp.exp((n-1)*mp.log(g) - g - mp.loggamma(n)) * mp.gammainc(n, max((s - b*g)/a, 0), mp.inf, regularized=True)
    inner = mp.quad(f, [0, max(up - 60, 0) if up > 60 else 0, up]) if up > 0 else 0
    tail = mp.gammainc(n, up, mp.inf, regularized=True)
    return inner + tail
def approx_sf(n, a, s):
    v = (1-a)**2 + a**2
    return mp.gammainc(n / v, s / v, mp.inf, regularized=True)
rows = []
for a in [0.1, 0.25, 0.4]:
    for n in [16, 64, 256]:
        v = (1-a)**2 + a**2
        for z in [2.0, 4.0, 6.0, 8.0]:
            s = n + z * mp.sqrt(n * v)
            e = exact_sf(n, a, s); ap = approx_sf(n, a, s)
            rows.append({"alpha": a, "n": n, "z": z, "score": float(s), "exact": mp.nstr(e, 17), "approx": mp.nstr(ap, 17), "ratio": float(ap / e)})
import pathlib
json.dump(rows, open(pathlib.Path(__file__).with_name('dual_key_exact.json'), 'w'), indent=1)
