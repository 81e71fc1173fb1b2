"""Errors the engine raises for a person to read: one clear line, no traceback."""


class AlignTermError(Exception):
    """A failure with a message meant for the user; `exit_code` follows architecture §3."""

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


class OutOfMemory(AlignTermError):
    """The machine ran out of memory loading a model or running it (a runtime failure: exit code 1)."""


# What allocation failures say when they are not a MemoryError: torch's CPU allocator
# ("can't allocate memory"), CUDA ("out of memory"), safetensors' mmap ("os error 12").
_OOM_MARKS = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory",
              "os error 12", "error code 12")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation failure, whatever library raised it."""
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    text = str(err).lower()
    return any(mark in text for mark in _OOM_MARKS)


def failure_line(err: Exception) -> str:
    """One line for an unexpected error of model work (never a traceback on screen)."""
    if is_out_of_memory(err):
        return ("out of memory while running the models: try a smaller max-new-tokens, "
                "a shorter URIAL prompt or query, or a smaller model")
    return f"{type(err).__name__}: {err}".splitlines()[0]
