"""One error tree for the whole service; the API and the CLI translate it at the edge.

DiplomaError
 ├── InvalidInput          a request or roster value was refused (carries FieldProblems)
 ├── NotFound              no such diploma, token, key or template
 ├── Conflict              the request clashes with stored state (already revoked, ...)
 ├── Unauthorized          missing or wrong credentials
 ├── Forbidden             valid credentials without the needed scope
 │    └── ApprovalRequired  the two-person rule applies: propose it, do not issue it
 ├── KeyStoreError         keys missing, unreadable or wrongly protected
 ├── ConfigurationError    the instance is not initialised or its settings are wrong
 ├── StorageUnavailable    the database cannot be reached or used now: try again later
 └── DocumentError         an uploaded document cannot be read at all
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One refused value: which field, and why, in a sentence a person can act on."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DiplomaError(Exception):
    """Base of every error the service raises on purpose."""


class InvalidInput(DiplomaError):
    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        self.problems = [problems] if isinstance(problems, FieldProblem) else list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class NotFound(DiplomaError):
    pass


class Conflict(DiplomaError):
    pass


class ExternalIdTaken(Conflict):
    """An external id sent again with other details than the diploma issued for it. The
    message names the fields, not the diploma: an API token that may not read diplomas
    must not learn which one it is (`diploma_id` and `serial` are for those that may)."""

    def __init__(self, external_id: str, fields: list[str], diploma_id: str, serial: str):
        self.external_id = external_id
        self.fields = tuple(fields)
        self.diploma_id = diploma_id
        self.serial = serial
        super().__init__(
            f"a diploma with external_id {external_id} already exists with other details "
            f"({', '.join(fields)}); nothing was issued. To change it, correct it: "
            f"`diplomas correct ID-OR-SERIAL --set field=value`, or "
            f"POST /api/v1/diplomas/{{id}}/corrections"
        )


class Unauthorized(DiplomaError):
    pass


class Throttled(DiplomaError):
    """Too many failed attempts: try again in `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DiplomaError):
    pass


class ApprovalRequired(Forbidden):
    """Issuing directly what the two-person rule says must be proposed and approved."""


class KeyStoreError(DiplomaError):
    pass


class ConfigurationError(DiplomaError):
    pass


class DocumentError(DiplomaError):
    pass


class StorageUnavailable(DiplomaError):
    """The database is away (down, restarting, locked, its pool exhausted): nothing of
    the request was stored, and the same request may be sent again. Raised by the
    storage layer in place of the driver's error (`storage.outage`); the message holds
    the driver's words, never the connection string."""


class UploadTooLarge(DocumentError):
    """An uploaded file past its size limit (answered 413 over HTTP)."""
