"""The error tree of Writ.

    WritError                  root of everything Writ raises
    ├── ConfigurationError     misuse: a receiver, key file or option is wrong (CLI exit 2)
    ├── MintError              grant/delegate refused because it would widen authority
    ├── MalformedError         hostile or broken input (token, proof, statement, bundle)
    └── StoreUnavailable       a state store or the decision log cannot be reached

A denial is never an exception: the verifier turns every failure into a
``Decision`` with a stable ``code``. These exceptions exist for library
callers and for the layers below the verifier.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "MalformedError",
    "MintError",
    "StoreUnavailable",
    "WritError",
]


class WritError(Exception):
    """Root of every error Writ raises."""


class ConfigurationError(WritError):
    """A configuration, key file or option is invalid."""


class MintError(WritError):
    """Minting a writ was refused; ``axis`` names what would have widened."""

    def __init__(self, axis: str, message: str) -> None:
        super().__init__(f"{axis}: {message}")
        self.axis = axis


class MalformedError(WritError):
    """Input is not well-formed; ``step`` is the AAT draft step label when one applies."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


class StoreUnavailable(WritError):
    """A state store or the decision log could not be read or written."""
