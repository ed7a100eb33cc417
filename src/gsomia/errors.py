"""One exception tree for the whole of gsomia.

The CLI maps each class to an exit code and the API to an HTTP status; `exit_code` and
`http_status` live here so that the mapping is decided once.
"""

from __future__ import annotations


class GsomiaError(Exception):
    """Base of every error gsomia raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    kind: str = "error"


class BadInput(GsomiaError):
    """The caller's input is malformed or names something unknown. The message says where."""

    exit_code = 2
    http_status = 422
    kind = "bad_input"


class Denied(GsomiaError):
    """A rule refused the operation (a release decision, an access check)."""

    exit_code = 4
    http_status = 403
    kind = "denied"


class VerificationFailed(GsomiaError):
    """A signature, proof, digest or log check did not hold."""

    exit_code = 3
    http_status = 422
    kind = "verification_failed"


class NotFound(GsomiaError):
    """A named thing does not exist."""

    exit_code = 2
    http_status = 404
    kind = "not_found"


class Conflict(GsomiaError):
    """The operation contradicts stored state (a duplicate id, a split view)."""

    exit_code = 5
    http_status = 409
    kind = "conflict"


class StoreFailure(GsomiaError):
    """The store could not read or write durably."""

    exit_code = 6
    http_status = 503
    kind = "store_failure"


class Overloaded(GsomiaError):
    """The node takes no more of this work now (its queue is full); nothing of the request was
    done. ``retry_after`` says in how many seconds to try again (HTTP 503 with Retry-After)."""

    exit_code = 6
    http_status = 503
    kind = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
