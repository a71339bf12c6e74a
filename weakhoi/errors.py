"""Exception types. Every error a user can cause derives from WeakHOIError; the CLI turns it into
a one-line message naming the bad file/key and a non-zero exit code."""


class WeakHOIError(Exception):
    """Base class for user-facing errors."""


class DataError(WeakHOIError):
    """Bad or missing dataset input (annotation file, image, box, class id)."""


class ArtifactError(WeakHOIError):
    """A pipeline artifact is missing, incomplete, damaged, of the wrong type or schema version."""


class AssetMissingError(WeakHOIError):
    """A pretrained asset (weights, checkpoint) is not available offline."""


class ConfigError(WeakHOIError):
    """Invalid parameter value or combination."""


class OutputError(WeakHOIError):
    """An output path holds something weakhoi must not replace (a directory where a file
    belongs, a file of another kind or artifact type, a directory weakhoi did not write)."""
