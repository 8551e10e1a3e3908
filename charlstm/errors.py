"""The one error family of charlstm.

Library code raises a subclass of `CharLSTMError` for anything a user can cause (a bad file, a bad
option, a broken checkpoint). The CLI turns these into one red line and exit code 1; anything else
is a bug and keeps its traceback.
"""


class CharLSTMError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(CharLSTMError):
    """An option value or a combination of options that cannot work."""


class CorpusError(CharLSTMError):
    """A corpus that cannot be read or trained on (missing, empty, binary, badly encoded)."""


class CheckpointError(CharLSTMError):
    """A checkpoint that is missing, unsafe, corrupt or does not match what it claims to hold."""


class ResumeMismatchError(CharLSTMError):
    """Resuming would mix a checkpoint with an incompatible corpus or configuration."""


class NonFiniteError(CharLSTMError):
    """Training produced a NaN or infinite loss or gradient norm."""


class PrimeError(CharLSTMError):
    """Prime text holds characters the model never saw."""


class RunBusyError(CharLSTMError):
    """Another process is writing this run folder (training or resuming it)."""


class Interrupted(CharLSTMError):
    """A stop was asked (Ctrl-C, SIGTERM) before training started, e.g. while the corpus was being
    read; nothing was left behind."""
