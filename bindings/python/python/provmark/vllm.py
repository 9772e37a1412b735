"""vLLM v1 adapter: a batch-level logits processor with per-request state.

Serve with the key set once per server, through the environment or vLLM's
``additional_config``::

    PROVMARK_KEY=/secrets/provmark.key vllm serve MODEL \\
        --logits-processors provmark.vllm:WatermarkLogitsProcessor

    LLM(MODEL, logits_processors=[WatermarkLogitsProcessor],
        additional_config={"provmark_key": "/secrets/provmark.key"})

Every request is watermarked unless it opts out with
``SamplingParams(extra_args={"provmark": False})``. The context of a request is the last h
tokens of its prompt followed by its output so far, as in the other adapters. The class
follows ``vllm.v1.sample.logits_processor.LogitsProcessor`` (``__init__(vllm_config, device,
is_pin_memory)``, ``apply``, ``is_argmax_invariant``, ``update_state``, ``validate_params``)
and subclasses it when vLLM is importable. It is not usable with speculative decoding (vLLM
rejects custom logits processors there).
"""

from __future__ import annotations

import os
from typing import Any

from ._errors import InvalidInputError
from ._provmark import Key

try:
    from vllm.v1.sample.logits_processor import LogitsProcessor as _Base
except ImportError:  # vLLM not installed: the same shape, for tests and for type checkers.
    _Base = object  # type: ignore[assignment,misc]

#: The environment variable naming the key file when ``additional_config`` does not.
KEY_ENV = "PROVMARK_KEY"
#: The ``SamplingParams.extra_args`` entry that turns the watermark off for one request.
OPT_OUT = "provmark"


def _key_path(vllm_config: Any) -> str:
    extra = getattr(vllm_config, "additional_config", None) or {}
    path = extra.get("provmark_key") if isinstance(extra, dict) else None
    path = path or os.environ.get(KEY_ENV)
    if not path:
        raise InvalidInputError(
            f"no provmark key: set {KEY_ENV} or additional_config={{'provmark_key': PATH}}"
        )
    return str(path)


def _enabled(params: Any) -> bool:
    extra = getattr(params, "extra_args", None) or {}
    return bool(extra.get(OPT_OUT, True)) if isinstance(extra, dict) else True


def _parse_added(added: Any) -> tuple[int, Any, Any, list[int]]:
    """(index, params, prompt ids or None, live output list) from an ``AddedRequest``.

    vLLM releases order the tuple differently ((index, params, prompt, output),
    (prompt, index, params, output), (index, params, output)); the index is the one int, the
    output list is the last list, the prompt the list before it.
    """
    index = next(x for x in added if isinstance(x, int) and not isinstance(x, bool))
    lists = [x for x in added if isinstance(x, (list, tuple)) or x is None]
    params = next(
        (x for x in added if x is not None and not isinstance(x, (int, list, tuple))), None
    )
    output = lists[-1] if lists else []
    prompt = lists[-2] if len(lists) >= 2 else None
    return index, params, prompt, output if output is not None else []


class WatermarkLogitsProcessor(_Base):  # type: ignore[misc,valid-type]
    """Adds the server key's watermark bias to the rows of watermarked requests."""

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        extra = getattr(sampling_params, "extra_args", None) or {}
        if isinstance(extra, dict) and OPT_OUT in extra and not isinstance(extra[OPT_OUT], bool):
            raise ValueError(f"extra_args[{OPT_OUT!r}] must be true or false")

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        self.key = Key.load(_key_path(vllm_config))
        self.device = device
        self.is_pin_memory = is_pin_memory
        self._h = self.key.context
        # batch row -> (prompt ids or None, live output ids)
        self._rows: dict[int, tuple[Any, list[int]]] = {}

    def is_argmax_invariant(self) -> bool:
        """False: the bias can change the most likely token, so greedy requests get it too."""
        return False

    def update_state(self, batch_update: Any) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self._rows.pop(index, None)
        for added in batch_update.added:
            index, params, prompt, output = _parse_added(added)
            if _enabled(params):
                self._rows[index] = (prompt, output)
            else:
                self._rows.pop(index, None)
        for moved in batch_update.moved:
            a, b, direction = moved
            ra, rb = self._rows.pop(a, None), self._rows.pop(b, None)
            if ra is not None:
                self._rows[b] = ra
            # vLLM's MoveDirectionality.SWAP (matched by name: its values differ by release).
            if getattr(direction, "name", None) == "SWAP" and rb is not None:
                self._rows[a] = rb

    def _context(self, row: int) -> list[int]:
        prompt, output = self._rows[row]
        h = self._h
        if h == 0:
            return []
        tail = list(output[-h:])
        if len(tail) < h and prompt:
            tail = list(prompt[-(h - len(tail)) :]) + tail
        return tail

    def apply(self, logits: Any) -> Any:
        if not self._rows:
            return logits
        import torch

        rows = sorted(r for r in self._rows if r < logits.shape[0])
        if not rows:
            return logits
        contexts = [self._context(r) for r in rows]
        if logits.device.type == "cpu" and logits.dtype == torch.float32 and logits.is_contiguous():
            view = logits.detach().numpy()
            for r, ctx in zip(rows, contexts):
                self.key.bias(ctx, view[r])
            return logits
        bias = torch.full((len(rows), logits.shape[1]), -0.0, dtype=torch.float32)
        self.key.bias_batch(contexts, bias.numpy())
        index = torch.tensor(rows, dtype=torch.long)
        bias = bias.to(device=logits.device, dtype=logits.dtype, non_blocking=True)
        logits.index_add_(0, index.to(logits.device), bias)
        return logits
