"""SSM errors as the service sends them (awsJson1_1): ``__type`` code and a ``Message`` body."""

from __future__ import annotations


class SsmError(Exception):
    """An error response of the emulated SSM Automation API.

    The emulator checks ``code`` against the operation's declared errors in botocore's
    model before answering, so a code the real operation cannot return is an emulator bug,
    not a silent drift.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"Message": self.message}


class NotImplementedByEmulator(SsmError):
    """Not an SSM error: a feature the emulator does not cover (HTTP 501, like the MGN emulator)."""

    status = 501

    def __init__(self, message: str) -> None:
        super().__init__("NotImplementedException", message)


class DocumentError(Exception):
    """A runbook the emulator cannot run as written (bad reference, bad step input)."""
