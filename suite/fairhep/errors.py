"""The exceptions a user sees as one line: each names the file or setting and the fix."""

from __future__ import annotations


class FairhepError(Exception):
    """An error caused by input or environment, reported by the CLI as one line."""


class DataError(FairhepError):
    """A dataset file or directory that is missing, corrupt or of the wrong shape."""


class ConfigError(FairhepError):
    """A malformed site, campaign or stack configuration."""


class SettingError(ConfigError, ValueError):
    """A bad option or environment value; also a ValueError for callers of the Python API."""


class BackendUnavailable(FairhepError):
    """A backend that cannot run here; the message is the reason recorded as 'skipped'."""
