"""Errors the engine raises for a person to read: one clear line, no traceback."""


class AlignTermError(Exception):
    """A failure with a message meant for the user; `exit_code` follows DESIGN §3."""

    exit_code = 1


class BadInput(AlignTermError):
    """Bad usage or input: a missing path, a wrong file, an empty query (exit code 2)."""

    exit_code = 2


class ModelLoadError(BadInput):
    """A model or tokenizer could not be loaded from what the user gave."""


class TokenizerMismatch(BadInput):
    """Base and aligned models do not share a vocabulary, so ranks would be meaningless."""


class ContextOverflow(BadInput):
    """A prompt (plus the requested answer length) does not fit the model's context."""
