"""Python-side overhead of one decoding step, against the Rust core doing the same work.

For V in (49 152, 128 256): the mean time of `Key.bias` called from Python (argument checks,
buffer acquisition, the NaN/+inf scan, GIL release, the bias itself) and of the llama-cpp-python
and Hugging Face adapters, minus the core's `Kgw::bias` timed inside Rust on the same logits
(`Key._core_bias_seconds`, the work of `cargo bench -- bias/V/1`). The goal is <= 10 us of
Python-side overhead per step. Prints a Markdown table; `--quick` for CI (fewer rounds).
Each figure is the median of rounds of many calls, so a busy core inflates it but cannot
shrink it.

    python bindings/python/benches/overhead.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import provmark
import provmark.llama_cpp

try:
    import provmark.hf
except ImportError:  # transformers absent: the HF row is left out
    pass


def per_call(fn, calls: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t) / calls)
    return statistics.median(samples)


def main() -> int:
    quick = "--quick" in sys.argv
    calls, rounds = (200, 5) if quick else (2000, 15)
    key = provmark.Key.generate()
    rng = np.random.default_rng(0)
    rows = []
    for vocab in (49_152, 128_256):
        logits = rng.normal(size=vocab).astype(np.float32)
        history = rng.integers(0, vocab, size=400).astype(np.intc)  # llama-cpp-python's ids
        history_list = [int(x) for x in history]
        core = statistics.median(
            key._core_bias_seconds(history, logits, calls) for _ in range(rounds)
        )
        cases = {
            "Key.bias(numpy ids, float32 row)": lambda: key.bias(history, logits),
            "Key.bias(list of 400 ids, float32 row)": lambda: key.bias(history_list, logits),
            "Key.bias(numpy ids, float32 row, check_finite=False)": lambda: key.bias(
                history, logits, check_finite=False
            ),
        }
        proc = provmark.llama_cpp.LogitsProcessor(key)
        rec = np.zeros(
            vocab, dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        )
        rec["logit"] = logits
        column = rec["logit"]
        cases["llama_cpp.LogitsProcessor (strided record column)"] = lambda: proc(history, column)
        try:
            import torch

            hf = provmark.hf.WatermarkLogitsProcessor(key)
            ids_t = torch.from_numpy(history.astype(np.int64)).reshape(1, -1)
            scores = torch.from_numpy(logits.copy()).reshape(1, -1)
            cases["hf.WatermarkLogitsProcessor (CPU float32, batch 1)"] = lambda: hf(ids_t, scores)
        except ImportError:
            pass
        for name, fn in cases.items():
            # Keep the logits finite: each call adds delta to about a quarter of them.
            logits[:] = rng.normal(size=vocab).astype(np.float32)
            t = per_call(fn, calls, rounds)
            rows.append((vocab, name, t, core))
    print("| V | call | per step | core bias (Rust) | Python-side overhead |")
    print("|---|---|---|---|---|")
    for vocab, name, t, core in rows:
        print(f"| {vocab} | {name} | {t * 1e6:.1f} us | {core * 1e6:.1f} us | {(t - core) * 1e6:.1f} us |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
