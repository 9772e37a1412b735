"""llama-cpp-python adapter: a ``logits_processor`` that watermarks every sampled token.

>>> from llama_cpp import Llama, LogitsProcessorList           # doctest: +SKIP
>>> import provmark, provmark.llama_cpp
>>> key = provmark.Key.load("smollm2.key")                      # doctest: +SKIP
>>> llm = Llama("SmolLM2-135M-Instruct-Q8_0.gguf")             # doctest: +SKIP
>>> out = llm("Tell me about rivers.", max_tokens=200,          # doctest: +SKIP
...           logits_processor=LogitsProcessorList([provmark.llama_cpp.LogitsProcessor(key)]))

llama-cpp-python calls it with the sequence so far (prompt included) and the step's full
float32 logits as numpy arrays, before temperature and the other samplers; the logits are
biased in place, without a copy.
"""

from __future__ import annotations

from typing import Any

from ._provmark import Key


class LogitsProcessor:
    """``(input_ids, scores) -> scores`` for ``Llama(..., logits_processor=...)``."""

    __slots__ = ("key",)

    def __init__(self, key: Key) -> None:
        self.key = key

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.key.bias(input_ids, scores)
        return scores

    def __repr__(self) -> str:
        return f"provmark.llama_cpp.LogitsProcessor(key_id={self.key.key_id!r})"
