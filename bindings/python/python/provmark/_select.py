"""Select mode of the adapters, for keys that choose the token (gumbel, synthid, vllm-*).

An engine's logits processor cannot draw the token itself, but it can leave only one: the
processor runs the key's sampler on the step's logits (with the sampling settings given to the
adapter, since the processor runs before the engine's own temperature and top-k/top-p) and
returns logits that are ``-inf`` everywhere except the chosen token. The engine's sampler
then emits that token whatever its settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._provmark import Key, KeyedSampler


class Selector:
    """The keyed choice for one sequence, kept in step with the ids the engine shows."""

    __slots__ = ("key", "settings", "rng", "state", "seen")

    def __init__(self, key: Key, temperature: float, top_k: int, top_p: float, seed: Any) -> None:
        self.key = key
        self.settings = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        self.rng = np.random.default_rng(seed)
        self.state: KeyedSampler | None = None
        self.seen = 0

    def choose(self, ids: Any, logits: np.ndarray) -> int:
        """The token after ``ids`` (the whole sequence so far, prompt included); ``logits``
        (float32, one row) is overwritten."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n = len(ids)
        if self.state is None or n != self.seen + 1:
            # A new sequence (or the engine rewound): the ids so far are its prompt.
            self.state = self.key.sampler(ids, **self.settings)
        else:
            self.state.accept(int(ids[-1]))
        self.seen = n
        return self.state.step(logits, float(self.rng.random()))


def one_hot(logits: np.ndarray, token: int) -> None:
    """Leaves only ``token`` possible: ``-inf`` elsewhere, 0 at ``token``."""
    logits.fill(-np.inf)
    logits[token] = 0.0
