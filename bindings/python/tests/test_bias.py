"""Server side: `Key.bias` on numpy buffers, in place, bit for bit as the Rust core, checked
against the independent implementation's PRF vectors; bad inputs raise and change nothing."""

from __future__ import annotations

import array

import numpy as np
import pytest

import provmark
from conftest import key_json


def vector_key(case, gamma=0.25):
    return provmark.Key.from_json(key_json(case["secret"], case["key_id"], len(case["context"]), gamma))


def test_green_lists_match_independent_vectors(prf_vectors):
    for case in prf_vectors["cases"]:
        if len(case["context"]) > 8:
            continue
        key = vector_key(case)
        probe = {int(k): v for k, v in case["probe"].items()}
        logits = np.zeros(max(max(probe) + 1, 64), dtype=np.float32)
        key.bias(case["context"], logits)
        bits = "".join("1" if x == 2.0 else "0" for x in logits[:64])
        assert bits == case["green_bits_gamma_0_25"], case["key_id"]
        for pos, byte in probe.items():
            assert (logits[pos] == 2.0) == (byte < 64), (case["key_id"], pos)


def test_bias_is_bit_exact_and_in_place():
    rng = np.random.default_rng(5)
    key = provmark.Key.generate(delta=1.75)
    for vocab in (1, 63, 49_152, 128_256):
        logits = rng.normal(size=vocab).astype(np.float32) * 10
        logits[:: 7] = -0.0
        logits[3 :: 11] = -np.inf
        logits[5 :: 13] = np.float32(1e-42)  # subnormal
        before = logits.copy()
        ptr = logits.ctypes.data
        ctx = [int(x) for x in rng.integers(0, vocab, size=5)]
        key.bias(ctx, logits)
        assert logits.ctypes.data == ptr
        mask = np.zeros(vocab, dtype=np.float32)
        key.bias(ctx, mask)
        green = mask == np.float32(1.75)
        expected = np.where(green, before + np.float32(1.75), before).astype(np.float32)
        assert np.array_equal(logits.view(np.uint32), expected.view(np.uint32))
        # The per-token path of the core (one PRF seed, one byte) agrees with the vector pass.
        for t in rng.integers(0, vocab, size=min(vocab, 300)):
            assert key.is_green(ctx, int(t)) == bool(green[t])
        # About gamma of the vocabulary is green (loose bounds: false-failure probability
        # below 1e-12 for vocab >= 49152 by a Chernoff bound).
        if vocab >= 49_152:
            assert 0.22 < green.mean() < 0.28


def test_context_forms_agree():
    key = provmark.Key.generate(context=3)
    ctx = [11, 22, 33, 44, 55]
    ref = np.zeros(5000, dtype=np.float32)
    key.bias(ctx, ref)
    forms = [
        tuple(ctx),
        np.array(ctx, dtype=np.int64),
        np.array(ctx, dtype=np.int32),
        np.array(ctx, dtype=np.uint16),
        np.array([0, 11, 0, 22, 0, 33, 0, 44, 0, 55], dtype=np.int64)[1::2],  # strided view
        array.array("q", ctx),
        [99, 98] + ctx,  # only the last h count
    ]
    for form in forms:
        got = np.zeros(5000, dtype=np.float32)
        key.bias(form, got)
        assert np.array_equal(got, ref), type(form)
    got = array.array("f", [0.0] * 5000)
    key.bias(ctx, got)
    assert np.array_equal(np.frombuffer(got, dtype=np.float32), ref)
    # Shorter than h: nothing changes.
    short = np.zeros(5000, dtype=np.float32)
    key.bias([1, 2], short)
    assert not short.any()


def test_batch_equals_rows():
    rng = np.random.default_rng(9)
    key = provmark.Key.generate()
    ctxs = rng.integers(0, 49_152, size=(6, 9))
    logits = rng.normal(size=(6, 49_152)).astype(np.float32)
    rows = logits.copy()
    key.bias_batch(ctxs, logits)
    for i in range(6):
        key.bias(ctxs[i], rows[i])
    assert np.array_equal(logits, rows)
    as_lists = rng.normal(size=(6, 49_152)).astype(np.float32)
    copy_ = as_lists.copy()
    key.bias_batch([list(map(int, r)) for r in ctxs], as_lists)
    key.bias_batch(ctxs, copy_)
    assert np.array_equal(as_lists, copy_)


@pytest.mark.parametrize(
    "logits, err",
    [
        (np.zeros(100, dtype=np.float64), provmark.InvalidInputError),
        (np.zeros((2, 100), dtype=np.float32), provmark.InvalidInputError),
        (np.zeros(100, dtype=np.float16), provmark.InvalidInputError),
        ([0.0] * 100, provmark.InvalidInputError),
        (np.zeros(2**21 + 1, dtype=np.float32), provmark.LogitsShapeError),
    ],
)
def test_bad_logits(logits, err):
    key = provmark.Key.generate()
    with pytest.raises(err):
        key.bias([1, 2, 3], logits)


def test_bad_values_leave_logits_untouched():
    key = provmark.Key.generate()
    for bad in (np.nan, np.inf):
        logits = np.zeros(1000, dtype=np.float32)
        logits[700] = bad
        before = logits.copy()
        with pytest.raises(provmark.NonFiniteLogitError, match="700"):
            key.bias([1, 2, 3], logits)
        assert np.array_equal(logits, before, equal_nan=True)
    ro = np.zeros(100, dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises(provmark.InvalidInputError):
        key.bias([1, 2], ro)
    logits = np.zeros(100, dtype=np.float32)
    for ctx in ([1, -5], [1, 2**40], "hello", b"ab", [1.5, 2], np.array([1.0, 2.0]), 7):
        with pytest.raises(provmark.Error):
            key.bias(ctx, logits)
    assert not logits.any()
    batch = np.zeros((3, 100), dtype=np.float32)
    with pytest.raises(provmark.InvalidInputError):
        key.bias_batch([[1, 2], [3, 4]], batch)
    with pytest.raises(provmark.Error):
        key.bias_batch([[1, 2], [3, 4], [5, -6]], batch)
    assert not batch.any()
    with pytest.raises(provmark.TokenOutOfRangeError):
        key.is_green([1, 2], 2**21)


def test_strided_logits_as_llama_cpp_python_passes_them():
    """llama-cpp-python hands processors the `logit` column of a `(id, logit, p)` record array
    (12 bytes apart); strided views are biased bit for bit as contiguous ones."""
    rng = np.random.default_rng(3)
    key = provmark.Key.generate()
    rec = np.zeros(49_152, dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True))
    rec["logit"] = rng.normal(size=49_152).astype(np.float32)
    rec["logit"][::5] = -0.0
    want = reference_bias(key, [5, 6, 7], rec["logit"].copy())
    key.bias([5, 6, 7], rec["logit"])
    assert np.array_equal(rec["logit"].view(np.uint32), want.view(np.uint32))
    backwards = rng.normal(size=1000).astype(np.float32)
    want = reference_bias(key, [1, 2], backwards[::-1].copy())
    key.bias([1, 2], backwards[::-1])
    assert np.array_equal(backwards[::-1], want)
    rec["logit"][10] = np.nan
    before = rec["logit"].copy()
    with pytest.raises(provmark.NonFiniteLogitError):
        key.bias([5, 6, 7], rec["logit"])
    assert np.array_equal(rec["logit"], before, equal_nan=True)


def reference_bias(key, ctx, logits):
    key.bias(ctx, logits)
    return logits
