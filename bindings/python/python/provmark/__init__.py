"""provmark: keyed watermarks for language-model text.

Embed a watermark in a sampling loop (:meth:`Key.bias`, or the adapters
:mod:`provmark.hf`, :mod:`provmark.llama_cpp` and :mod:`provmark.vllm`), detect it with an
exact p-value (:func:`detect`), and pool the evidence over a corpus (:class:`Audit`).

>>> import provmark
>>> key = provmark.Key.generate()
>>> result = provmark.detect(key, "Some text that nobody watermarked.", min_tokens=4)
>>> result.verdict
'not_watermarked'

The package has no runtime dependency; numpy, torch, transformers, llama-cpp-python and vLLM
are imported only by the adapters that need them.
"""

from ._errors import (
    EngineError,
    Error,
    InvalidInputError,
    InvalidParameterError,
    IoError,
    KeyFormatError,
    LogitsShapeError,
    ModelFormatError,
    NoCandidatesError,
    NonFiniteLogitError,
    NumericalError,
    TokenizerError,
    TokenOutOfRangeError,
    WouldOverwriteError,
)
from ._provmark import (
    MAX_VOCAB,
    Audit,
    Detection,
    Key,
    KeyedSampler,
    MasterKey,
    __version__,
    detect,
    detect_rotation,
)

#: The Rust crate calls the contents of a key file a ``KeyFile``; in Python it is the same
#: class as :class:`Key` (``KeyFile.load(path)`` and ``Key.load(path)`` are one call).
KeyFile = Key

__all__ = [
    "Audit",
    "Detection",
    "EngineError",
    "Error",
    "InvalidInputError",
    "InvalidParameterError",
    "IoError",
    "Key",
    "KeyFile",
    "KeyFormatError",
    "KeyedSampler",
    "LogitsShapeError",
    "MAX_VOCAB",
    "MasterKey",
    "ModelFormatError",
    "NoCandidatesError",
    "NonFiniteLogitError",
    "NumericalError",
    "TokenOutOfRangeError",
    "TokenizerError",
    "WouldOverwriteError",
    "__version__",
    "detect",
    "detect_rotation",
]
