"""MGN errors as the service sends them: status from the model, x-amzn-ErrorType, JSON body."""

from __future__ import annotations

from typing import Any

from localcloud.mgn.model_validation import FieldProblem


class MgnError(Exception):
    """An error response. ``fields`` go into the JSON body, ``headers`` into HTTP headers.

    The status code is not stored here: the emulator takes it from the error shape's
    ``error.httpStatusCode`` in botocore's model, so it cannot drift from the real service.
    """

    code = "InternalServerException"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields}


class ValidationError(MgnError):
    code = "ValidationException"

    def __init__(
        self, message: str, problems: list[FieldProblem] | None = None, reason: str = "fieldValidationFailed"
    ) -> None:
        field_list = [{"name": p.name, "message": p.message} for p in problems or []]
        super().__init__(message, reason=reason, fieldList=field_list or None, code="ValidationException")


class ConflictError(MgnError):
    code = "ConflictException"

    def __init__(
        self,
        message: str,
        resource_id: str | None = None,
        resource_type: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(
            message,
            resourceId=resource_id,
            resourceType=resource_type,
            errors=errors or None,
            code="ConflictException",
        )


class NotFoundError(MgnError):
    code = "ResourceNotFoundException"

    def __init__(
        self, message: str, resource_id: str | None = None, resource_type: str | None = None
    ) -> None:
        super().__init__(
            message, resourceId=resource_id, resourceType=resource_type, code="ResourceNotFoundException"
        )


class ThrottlingError(MgnError):
    code = "ThrottlingException"

    def __init__(self, message: str, retry_after: int) -> None:
        # The model binds retryAfterSeconds to the Retry-After header, not the body.
        super().__init__(
            message, headers={"Retry-After": str(retry_after)}, serviceCode="mgn", quotaCode="L-MGN-API-RATE"
        )


class QuotaExceededError(MgnError):
    code = "ServiceQuotaExceededException"

    def __init__(
        self, message: str, quota_code: str, quota_value: int, resource_type: str | None = None
    ) -> None:
        super().__init__(
            message,
            serviceCode="mgn",
            quotaCode=quota_code,
            quotaValue=quota_value,
            resourceType=resource_type,
            code="ServiceQuotaExceededException",
        )


class UninitializedError(MgnError):
    code = "UninitializedAccountException"

    def __init__(self) -> None:
        super().__init__(
            "Account not initialized for Application Migration Service; call InitializeService first",
            code="UninitializedAccountException",
        )


class NotImplementedByEmulator(MgnError):
    """Not an MGN error: the emulator does not cover this operation (HTTP 501)."""

    code = "NotImplementedException"
    status = 501


class InjectedError(MgnError):
    """An arbitrary modeled error a test asked for (``emu.fail_next_call``)."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None, **fields: Any) -> None:
        super().__init__(message, headers=headers, **fields)
        self.code = code


class EmulatorBug(AssertionError):
    """The emulator produced a response its own model rejects: a bug in the emulator."""
