"""End to end with a real engine: llama-cpp-python generating with SmolLM2 through
provmark's logits processor (200 tokens, T 1.0), detected at p < 1e-6; the unwatermarked twin
(same seed) is not. Needs PROVMARK_MODEL (the GGUF from scripts/fetch-model.sh) and
llama-cpp-python; skipped without them unless PROVMARK_REQUIRE_MODEL=1."""

from __future__ import annotations

import os

import numpy as np
import pytest

import provmark
import provmark.llama_cpp

MODEL = os.environ.get("PROVMARK_MODEL")
REQUIRED = os.environ.get("PROVMARK_REQUIRE_MODEL") == "1"

PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how rivers shape the land over thousands of years.",
]


def llama():
    if not MODEL or not os.path.exists(MODEL):
        if REQUIRED:
            pytest.fail("PROVMARK_REQUIRE_MODEL=1 but PROVMARK_MODEL is not a file")
        pytest.skip("set PROVMARK_MODEL to the SmolLM2 GGUF")
    try:
        import llama_cpp
    except ImportError:
        if REQUIRED:
            raise
        pytest.skip("llama-cpp-python is not installed")
    return llama_cpp


def generate(llama_cpp, llm, prompt: str, procs: list, seed: int, n: int = 200) -> list[int]:
    eos = llm.token_eos()

    def ban_eos(_ids, scores):
        scores[eos] = -np.inf  # a fixed length: 200 tokens; first, so select mode never picks EOS
        return scores

    chat = f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
    tokens = llm.tokenize(chat.encode(), add_bos=False, special=True)
    llm.reset()
    llm.set_seed(seed)
    out: list[int] = []
    for tok in llm.generate(
        tokens,
        temp=1.0,
        top_k=0,
        top_p=1.0,
        min_p=0.0,
        repeat_penalty=1.0,
        logits_processor=llama_cpp.LogitsProcessorList([ban_eos] + procs),
    ):
        out.append(int(tok))
        if len(out) == n:
            break
    return out


def test_llama_cpp_python_end_to_end():
    llama_cpp = llama()
    key = provmark.Key.generate(tokenizer=MODEL)
    assert key.vocab_size == 49_152
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=512, n_threads=2, verbose=False)
    wm = provmark.llama_cpp.LogitsProcessor(key)
    for i, prompt in enumerate(PROMPTS):
        marked = generate(llama_cpp, llm, prompt, [wm], seed=11 + i)
        plain = generate(llama_cpp, llm, prompt, [], seed=11 + i)
        assert len(marked) == len(plain) == 200
        assert wm.failures == 0, wm.last_error
        d = provmark.detect(key, marked)
        t = provmark.detect(key, plain)
        print(f"prompt {i}: watermarked z {d.z_score:.2f} log10 p {d.log10_p_value:.1f}; "
              f"twin z {t.z_score:.2f}")
        # SmolLM2 at T 1.0 has ~2.9 nats/token: the README's 200-prompt run found every
        # watermarked answer at 200 tokens and T 1 below 1e-6 and no twin; a twin is flagged
        # with probability 1e-6 (null p uniform).
        assert d.verdict == "watermarked", d
        assert t.verdict == "not_watermarked", t
        # Detection through the key's own tokenizer on the decoded text agrees.
        text = key.decode(marked)
        assert provmark.detect(key, text).verdict == "watermarked"


def test_llama_cpp_python_gumbel_select_mode():
    """A Gumbel key through llama-cpp-python: the processor samples with the key (select
    mode) and llama.cpp emits the one token left; detected at 1e-6, the twin is not (false
    failure 1e-6)."""
    llama_cpp = llama()
    key = provmark.Key.generate(scheme="gumbel", tokenizer=MODEL)
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=512, n_threads=2, verbose=False)
    wm = provmark.llama_cpp.LogitsProcessor(key, temperature=1.0, seed=3)
    marked = generate(llama_cpp, llm, PROMPTS[0], [wm], seed=21)
    plain = generate(llama_cpp, llm, PROMPTS[0], [], seed=21)
    assert wm.failures == 0, wm.last_error
    d = provmark.detect(key, marked)
    print(f"gumbel: log10 p {d.log10_p_value:.1f} over {d.scored} scored")
    assert d.verdict == "watermarked", d
    assert provmark.detect(key, plain).verdict == "not_watermarked"
