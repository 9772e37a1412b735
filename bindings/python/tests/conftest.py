"""Shared helpers of the pytest suite: paths of the repository's vectors, and a toy sampler."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PRF_VECTORS = REPO / "tests" / "data" / "prf_v1.json"


def key_json(secret: str, key_id: str, context: int, gamma: float = 0.25) -> str:
    """Key-file JSON for a known secret (as `provmark keygen` writes it)."""
    return json.dumps(
        {
            "format": "provmark-key",
            "version": 1,
            "key_id": key_id,
            "scheme": {"type": "kgw", "prf": "v1", "gamma": gamma, "delta": 2.0, "context": context},
            "tokenizer": {"type": "tiktoken", "name": "o200k_base"},
            "secret": secret,
        }
    )


@pytest.fixture(scope="session")
def prf_vectors() -> dict:
    return json.loads(PRF_VECTORS.read_text())


def private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def sample_text(key, n_tokens: int, vocab: int, seed: int, watermark: bool) -> list[int]:
    """Token ids from a toy model (Zipf-shaped logits shuffled per step by `seed`), sampled at
    T 1 with the key's bias when `watermark`: enough entropy for the watermark to show."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = -np.log(np.arange(1, vocab + 1, dtype=np.float64)).astype(np.float32) * 0.7
    ids: list[int] = [int(x) for x in rng.integers(0, vocab, size=4)]
    out: list[int] = []
    for _ in range(n_tokens):
        logits = rng.permutation(base).astype(np.float32)
        if watermark:
            key.bias(ids, logits)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        tok = int(rng.choice(vocab, p=p))
        ids.append(tok)
        out.append(tok)
    return out


__all__ = ["key_json", "private_write", "sample_text", "REPO", "math", "random"]
