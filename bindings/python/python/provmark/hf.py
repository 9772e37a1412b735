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
"""

from __future__ import annotations

from typing import Any

from ._provmark import Key

try:  # Subclass the real base class when transformers is installed.
    from transformers import LogitsProcessor as _Base
except ImportError:  # pragma: no cover - exercised only without transformers
    _Base = object  # type: ignore[assignment,misc]


class WatermarkLogitsProcessor(_Base):  # type: ignore[misc,valid-type]
    """Adds the key's watermark bias to each row of ``scores`` under that row's context."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self._h = key.context

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            from ._errors import InvalidInputError

            raise InvalidInputError(
                f"expected input_ids (batch, length) and scores (batch, vocab); "
                f"got {tuple(input_ids.shape)} and {tuple(scores.shape)}"
            )
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

    def __repr__(self) -> str:
        return f"provmark.hf.WatermarkLogitsProcessor(key_id={self.key.key_id!r})"
