"""User-facing errors: the CLI prints these as one line and exits 2, never a traceback."""


class SupernetError(ValueError):
    """Bad input from the user (arch, space, file, budget): the message says what and what is allowed."""


class ArchError(SupernetError):
    """An architecture that lies outside its search space."""


class SpaceError(SupernetError):
    """A malformed search-space description or an unknown preset."""


class CheckpointError(SupernetError):
    """A missing, corrupt or mismatched checkpoint."""


class OutputError(SupernetError):
    """An output that cannot or must not be written (exists, read-only, disk full, locked by another run)."""


class DataError(SupernetError):
    """A data set that is missing or unreadable (a missing folder, a file that does not decode)."""


class InputFileError(SupernetError):
    """A file the project reads (JSON config, arch, checkpoint description) that is unreadable or malformed."""
