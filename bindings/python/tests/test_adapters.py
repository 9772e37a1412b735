"""The ecosystem adapters: llama-cpp-python's callable, the vLLM v1 processor's contract
(per-request state through add/remove/move, opt-out), and the Hugging Face processor, on CPU
float32 in place and on other dtypes through a moved bias. The real libraries are used where
they are installed (transformers and torch may be; vLLM needs a GPU and is not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pytest

import provmark
import provmark.llama_cpp
import provmark.vllm


def reference(key, ctx, logits):
    out = logits.copy()
    key.bias(ctx, out)
    return out


def test_llama_cpp_processor_biases_in_place():
    key = provmark.Key.generate()
    proc = provmark.llama_cpp.LogitsProcessor(key)
    ids = np.array([3, 1, 4, 1, 5], dtype=np.intc)
    scores = np.random.default_rng(1).normal(size=49_152).astype(np.float32)
    want = reference(key, ids, scores)
    got = proc(ids, scores)
    assert got is scores and np.array_equal(scores, want)
    assert "pm1-" in repr(proc)


class Move(Enum):
    """vLLM's MoveDirectionality, as its releases define it."""

    UNIDIRECTIONAL = 0
    SWAP = 1


@dataclass
class Params:
    extra_args: dict | None = None


@dataclass
class BatchUpdate:
    batch_size: int
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    moved: list = field(default_factory=list)


@dataclass
class Config:
    additional_config: dict


@pytest.fixture
def vllm_proc(tmp_path):
    torch = pytest.importorskip("torch")
    key = provmark.Key.generate()
    path = tmp_path / "k.json"
    key.save(path)
    proc = provmark.vllm.WatermarkLogitsProcessor(
        Config({"provmark_key": str(path)}), torch.device("cpu"), False
    )
    return key, proc, torch


def test_vllm_processor_contract(vllm_proc):
    key, proc, torch = vllm_proc
    assert proc.is_argmax_invariant() is False
    out0, out1, out2 = [7, 8], [9], []
    proc.update_state(
        BatchUpdate(
            3,
            added=[
                (0, Params(), [1, 2, 3], out0),
                (1, Params({"provmark": False}), [4, 5], out1),
                (2, Params(), [6, 7, 8], out2),
            ],
        )
    )
    logits = torch.randn(3, 1000)
    before = logits.clone()
    proc.apply(logits)
    assert torch.equal(logits[0], torch.from_numpy(reference(key, [7, 8], before[0].numpy())))
    assert torch.equal(logits[1], before[1])  # opted out
    assert torch.equal(logits[2], torch.from_numpy(reference(key, [7, 8], before[2].numpy())))
    # Outputs grow through the live lists; rows move and leave.
    out2.append(42)
    proc.update_state(BatchUpdate(2, removed=[1], moved=[(2, 1, Move.SWAP)]))
    logits = torch.randn(2, 1000)
    before = logits.clone()
    proc.apply(logits)
    assert torch.equal(logits[1], torch.from_numpy(reference(key, [8, 42], before[1].numpy())))
    assert torch.equal(logits[0], torch.from_numpy(reference(key, [7, 8], before[0].numpy())))
    # Other dtypes: the float32 bias moves to the logits and is added there.
    half = before.to(torch.bfloat16)
    proc.apply(half)
    want = torch.from_numpy(reference(key, [8, 42], before[1].numpy()))
    assert torch.allclose(half[1].float(), want, atol=0.1)
    proc.update_state(None)
    with pytest.raises(ValueError):
        provmark.vllm.WatermarkLogitsProcessor.validate_params(Params({"provmark": "yes"}))


def test_vllm_needs_a_key(monkeypatch):
    monkeypatch.delenv(provmark.vllm.KEY_ENV, raising=False)
    with pytest.raises(provmark.InvalidInputError):
        provmark.vllm.WatermarkLogitsProcessor(Config({}), "cpu", False)


def test_vllm_added_request_layouts():
    p = Params()
    assert provmark.vllm._parse_added((3, p, [1], [2])) == (3, p, [1], [2])
    assert provmark.vllm._parse_added(([1], 3, p, [2])) == (3, p, [1], [2])
    assert provmark.vllm._parse_added((3, p, [2])) == (3, p, None, [2])


def test_hf_processor_torch():
    torch = pytest.importorskip("torch")
    import provmark.hf

    key = provmark.Key.generate()
    proc = provmark.hf.WatermarkLogitsProcessor(key)
    input_ids = torch.randint(0, 49_152, (4, 12))
    scores = torch.randn(4, 49_152)
    want = scores.numpy().copy()
    key.bias_batch(input_ids.numpy(), want)
    got = proc(input_ids, scores)
    assert got.data_ptr() == scores.data_ptr()
    assert np.array_equal(got.numpy(), want)
    half = torch.randn(4, 49_152).to(torch.bfloat16)
    want = half.float().numpy().copy()
    key.bias_batch(input_ids.numpy(), want)
    got = proc(input_ids, half)
    assert got.dtype == torch.bfloat16
    assert torch.allclose(got.float(), torch.from_numpy(want), atol=0.07)
    with pytest.raises(provmark.InvalidInputError):
        proc(input_ids[0], scores)


def test_hf_generate_with_transformers():
    """A real `model.generate` (a small randomly initialised Llama, built offline) through the
    processor: the output is detected, the unwatermarked twin is not."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import provmark.hf

    torch.manual_seed(0)
    vocab = 2000
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    key = provmark.Key.generate(delta=3.0)
    prompt = torch.randint(0, vocab, (2, 5))
    results = {}
    for wm in (True, False):
        procs = transformers.LogitsProcessorList([provmark.hf.WatermarkLogitsProcessor(key)] if wm else [])
        torch.manual_seed(1)
        out = model.generate(
            prompt, attention_mask=torch.ones_like(prompt), do_sample=True, temperature=1.0,
            top_k=0, max_new_tokens=200, min_new_tokens=200, logits_processor=procs, pad_token_id=0,
        )
        results[wm] = [provmark.detect(key, row.tolist(), vocab_size=vocab) for row in out]
    # A random model is near-uniform over 2000 tokens (high entropy): z is far above 10, and an
    # unwatermarked row is flagged at 1e-6 with probability 1e-6.
    assert all(d.verdict == "watermarked" for d in results[True])
    assert all(d.verdict == "not_watermarked" for d in results[False])


def test_vllm_state_without_torch(tmp_path):
    """The per-request bookkeeping (add, opt out, grow, swap, move, remove), which needs no
    torch: each row's context is the last h tokens of its prompt and output so far."""
    key = provmark.Key.generate(context=3)
    path = tmp_path / "k.json"
    key.save(path)
    proc = provmark.vllm.WatermarkLogitsProcessor(Config({"provmark_key": str(path)}), "cpu", False)
    out_a, out_b, out_c = [], [10], [20, 21, 22, 23]
    proc.update_state(
        BatchUpdate(
            3,
            added=[(0, Params(), [1, 2, 3, 4], out_a), (1, Params(), [5], out_b), (2, Params({"provmark": False}), [6], out_c)],
        )
    )
    assert proc._context(0) == [2, 3, 4] and proc._context(1) == [5, 10]
    assert 2 not in proc._rows
    out_a.append(7)
    assert proc._context(0) == [3, 4, 7]
    proc.update_state(BatchUpdate(2, moved=[(0, 1, Move.SWAP)]))
    assert proc._context(1) == [3, 4, 7] and proc._context(0) == [5, 10]
    proc.update_state(BatchUpdate(1, removed=[0], moved=[(1, 0, Move.UNIDIRECTIONAL)]))
    assert list(proc._rows) == [0] and proc._context(0) == [3, 4, 7]


def synthetic_logits(history, vocab: int = 3000) -> np.ndarray:
    """A fixed pseudo-model with entropy: the last token seeds a permutation of logits."""
    last = int(history[-1]) if len(history) else 0
    v = np.arange(vocab, dtype=np.uint64)
    return (((v * 2_654_435_761) ^ (last * 40_503)) % 1000).astype(np.float32) / 250.0


@pytest.mark.parametrize("scheme", ["gumbel", "synthid"])
def test_llama_cpp_processor_select_mode(scheme):
    """Keys that choose the token: the processor leaves exactly one token possible, the text
    it forces is detected under the key (alpha 1e-6) and not under another key (a null p is
    super-uniform: false failure <= 1e-6 per scheme)."""
    key = provmark.Key.generate(scheme=scheme)
    assert key.chooses_token
    other = provmark.Key.generate(scheme=scheme)
    proc = provmark.llama_cpp.LogitsProcessor(key, temperature=1.0, seed=5)
    ids = [1, 2, 3]
    for _ in range(300):
        scores = synthetic_logits(ids)
        proc(np.array(ids, dtype=np.intc), scores)
        (possible,) = np.nonzero(np.isfinite(scores))
        assert len(possible) == 1 and scores[possible[0]] == 0.0
        ids.append(int(possible[0]))
    assert proc.failures == 0
    gen = ids[3:]
    assert provmark.detect(key, gen).verdict == "watermarked"
    assert provmark.detect(other, gen).verdict != "watermarked"


def test_keyed_sampler_skips_repeated_contexts():
    """Gumbel is deterministic per (context, distribution): a sampler that kept the watermark
    at a repeated context would loop. The second visit of a context is an ordinary draw, so
    with a flat distribution and fresh uniforms it differs from the first most of the time
    (each repeat agrees by chance with probability 1/1000; the test needs 5 of 40 to differ)."""
    key = provmark.Key.generate(scheme="gumbel", context=1)
    rng = np.random.default_rng(3)
    differ = 0
    for _ in range(40):
        s = key.sampler([7])
        first = s.step(np.zeros(1000, dtype=np.float32), float(rng.random()))
        s.accept(7)  # the context [7] comes back
        second = s.step(np.zeros(1000, dtype=np.float32), float(rng.random()))
        differ += first != second
    assert differ >= 5
    with pytest.raises(provmark.TokenOutOfRangeError):
        key.sampler([1]).accept(-1)
    assert "gumbel" in repr(key.sampler([1]))


def test_bias_refuses_keys_that_choose_the_token():
    key = provmark.Key.generate(scheme="gumbel")
    with pytest.raises(provmark.InvalidParameterError, match="sample"):
        key.bias([1, 2, 3], np.zeros(100, dtype=np.float32))
    sh = provmark.Key.generate(scheme="selfhash")
    assert not sh.chooses_token and sh.gamma == 0.25 and sh.context == 3
    logits = np.zeros(5000, dtype=np.float32)
    sh.bias([1, 2, 3], logits)
    assert 900 < np.count_nonzero(logits == 2.0) < 1600
