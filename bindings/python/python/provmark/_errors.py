"""The exceptions provmark raises: every one derives from :class:`provmark.Error`.

Errors about a bad value also derive from :class:`ValueError`, file errors from
:class:`OSError` (and :class:`FileExistsError` for a refused overwrite), so code that already
handles those keeps working. Messages never contain key material.
"""


class Error(Exception):
    """Base class of every provmark error."""


class InvalidParameterError(Error, ValueError):
    """A watermark or detection parameter is out of its documented range."""


class InvalidInputError(Error, ValueError):
    """An input has the wrong type, dtype or shape, or could not be parsed."""


class TokenOutOfRangeError(Error, ValueError):
    """A token id is negative or outside the vocabulary."""


class NonFiniteLogitError(Error, ValueError):
    """A logit is NaN or +inf."""


class LogitsShapeError(Error, ValueError):
    """A logits array has the wrong length."""


class NoCandidatesError(Error, ValueError):
    """Every logit is -inf: nothing can be sampled."""


class KeyFormatError(Error, ValueError):
    """A key or master file is malformed, corrupted or edited."""


class ModelFormatError(Error, ValueError):
    """A model file is malformed."""


class TokenizerError(Error):
    """The tokenizer could not be loaded or failed."""


class EngineError(Error):
    """An inference engine failed."""


class NumericalError(Error, ArithmeticError):
    """A numerical routine did not converge (reported rather than returning a wrong number)."""


class IoError(Error, OSError):
    """A file could not be read or written."""


class WouldOverwriteError(Error, FileExistsError):
    """A key file would overwrite an existing file (provmark never overwrites)."""
