"""llama-cpp-python adapter: a ``logits_processor`` that watermarks every sampled token.

>>> from llama_cpp import Llama, LogitsProcessorList           # doctest: +SKIP
>>> import provmark, provmark.llama_cpp
>>> key = provmark.Key.load("smollm2.key")                      # doctest: +SKIP
>>> llm = Llama("SmolLM2-135M-Instruct-Q8_0.gguf")             # doctest: +SKIP
>>> wm = provmark.llama_cpp.LogitsProcessor(key)
>>> out = llm("Tell me about rivers.", max_tokens=200,          # doctest: +SKIP
...           logits_processor=LogitsProcessorList([wm]))

llama-cpp-python calls it with the sequence so far (prompt included) and the step's full
logits, first in its sampler chain (before temperature), in token-id order. Depending on the
call path the logits are a contiguous float32 row or the ``logit`` column of llama.cpp's
candidate records (strided); both are biased in place without a Python-side copy.

Keys that choose the token themselves (gumbel, synthid, vllm-*; ``key.chooses_token``) run in
*select mode*: the processor samples the step with the key under the ``temperature``, ``top_k``
and ``top_p`` given to it (it runs before llama.cpp's own sampling settings, which then see a
single possible token), and leaves that token alone possible.

llama-cpp-python runs processors inside a ctypes callback, where an exception is printed and
*ignored* (the step is then sampled without the watermark). So each failure is also counted in
``failures`` (with the message in ``last_error``): check it after generating.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._provmark import Key
from ._select import Selector, one_hot


class LogitsProcessor:
    """``(input_ids, scores) -> scores`` for ``Llama(..., logits_processor=...)``.

    ``temperature``, ``top_k``, ``top_p`` and ``seed`` apply in select mode only (keys that
    choose the token); logit-bias keys leave sampling to llama.cpp."""

    __slots__ = ("key", "failures", "last_error", "_select")

    def __init__(
        self,
        key: Key,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: Any = None,
    ) -> None:
        self.key = key
        self.failures = 0
        self.last_error: str | None = None
        self._select = (
            Selector(key, temperature, top_k, top_p, seed) if key.chooses_token else None
        )

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        try:
            if self._select is None:
                self.key.bias(input_ids, scores)
            else:
                row = np.array(scores, dtype=np.float32)  # contiguous copy, any layout
                one_hot(scores, self._select.choose(input_ids, row))
        except Exception as e:
            self.failures += 1
            self.last_error = str(e)
            raise
        return scores

    def __repr__(self) -> str:
        return f"provmark.llama_cpp.LogitsProcessor(key_id={self.key.key_id!r}, failures={self.failures})"
