"""Hugging Face transformers adapter: a ``LogitsProcessor`` for ``model.generate``.

>>> import provmark, provmark.hf                                           # doctest: +SKIP
>>> from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList
>>> key = provmark.Key.load("smollm2.key")                                 # doctest: +SKIP
>>> out = model.generate(**inputs, do_sample=True, max_new_tokens=200,     # doctest: +SKIP
...     logits_processor=LogitsProcessorList([provmark.hf.WatermarkLogitsProcessor(key)]))

Batched, on any device and dtype. On CPU float32 scores are biased in place through a numpy
view (no copy). Otherwise only what must move moves: the last h token ids of each row come to
the CPU, and the ``(batch, vocab)`` float32 bias (``+delta`` on green, ``-0.0`` elsewhere, so
red logits keep their exact value) goes to the scores' device and is added there.

transformers (5.x) merges custom processors after its own logits processors (repetition
penalty and the like) but before the sampling warpers (temperature, top-k, top-p), so the bias
comes before temperature, as in llama.cpp and the CLI.

Keys that choose the token themselves (gumbel, synthid, vllm-*; ``key.chooses_token``) run in
*select mode*: each row is sampled with the key under the ``temperature``, ``top_k`` and
``top_p`` given to the processor (transformers' own warpers come later and then see a single
possible token), and the returned scores are ``-inf`` except at the chosen token. Pass
``do_sample=True`` or greedy decoding alike; the settings that count are the processor's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._provmark import Key
from ._select import Selector, one_hot

try:  # Subclass the real base class when transformers is installed.
    from transformers import LogitsProcessor as _Base
except ImportError:  # pragma: no cover - exercised only without transformers
    _Base = object  # type: ignore[assignment,misc]


class WatermarkLogitsProcessor(_Base):  # type: ignore[misc,valid-type]
    """Adds the key's watermark bias to each row of ``scores`` under that row's context."""

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
        self._h = key.context
        self._settings = (temperature, top_k, top_p)
        self._rng = np.random.default_rng(seed)
        self._rows: list[Selector] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            from ._errors import InvalidInputError

            raise InvalidInputError(
                f"expected input_ids (batch, length) and scores (batch, vocab); "
                f"got {tuple(input_ids.shape)} and {tuple(scores.shape)}"
            )
        if self.key.chooses_token:
            return self._select(input_ids, scores)
        length = input_ids.shape[1]
        ctx = input_ids[:, max(0, length - self._h) :].detach()
        if ctx.device.type != "cpu":
            ctx = ctx.cpu()
        ctx = ctx.numpy()
        if scores.device.type == "cpu" and scores.dtype == torch.float32 and scores.is_contiguous():
            self.key.bias_batch(ctx, scores.detach().numpy())
            return scores
        bias = torch.full(tuple(scores.shape), -0.0, dtype=torch.float32)
        self.key.bias_batch(ctx, bias.numpy())
        return scores + bias.to(device=scores.device, dtype=scores.dtype, non_blocking=True)

    def _select(self, input_ids: Any, scores: Any) -> Any:
        import torch

        batch = input_ids.shape[0]
        if len(self._rows) != batch:
            # One selector per row, seeded from this processor's generator.
            seeds = self._rng.integers(0, 2**63, size=batch)
            self._rows = [Selector(self.key, *self._settings, int(s)) for s in seeds]
        ids = input_ids.detach().cpu().numpy()
        rows = scores.detach().to(device="cpu", dtype=torch.float32).numpy().copy()
        for r in range(batch):
            one_hot(rows[r], self._rows[r].choose(ids[r], rows[r].copy()))
        return torch.from_numpy(rows).to(device=scores.device, dtype=scores.dtype)

    def __repr__(self) -> str:
        return f"provmark.hf.WatermarkLogitsProcessor(key_id={self.key.key_id!r})"
