"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Clients written for OpenAI (its SDKs, LangChain) read this shape and raise their own typed
errors from the status. Messages say what to change; they never quote what the user sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse

__all__ = ["ApiError"]


@dataclass
class ApiError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    retry_after: int | None = None

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        body = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status, headers=headers)
