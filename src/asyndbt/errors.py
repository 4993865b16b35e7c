"""The asyndbt exception tree.

Every error the library raises on purpose derives from :class:`AsyndbtError`. One subclass per layer,
so callers can catch "anything the data layer rejected" without string matching. Each error carries a
stable ``code`` and the CLI exit code it maps to; messages name the bad value and give the fix.

    AsyndbtError
    ├── ConfigError          bad configuration value or file
    ├── DataError            task definitions, data files, splits, partitions
    ├── LLMError             anything from the LLM layer
    │   ├── LLMConfigError       model file missing, bad URL, bad label words
    │   ├── LLMRateLimited       HTTP 429 (carries retry_after)
    │   ├── LLMTimeout           request timed out
    │   ├── LLMServerError       HTTP 5xx / backend crash
    │   └── LLMBadResponse       response could not be parsed
    ├── BudgetExceeded       a call/token/cost budget was reached
    ├── AlgorithmError       invalid algorithm state or message
    └── RunError             run directory, checkpoint and resume problems
"""

from __future__ import annotations


class AsyndbtError(Exception):
    """Base class for every error raised by asyndbt on purpose."""

    code: str = "asyndbt_error"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AsyndbtError):
    """A configuration value or file is invalid."""

    code = "config_error"
    exit_code = 2


class DataError(AsyndbtError):
    """A task, data file, split or partition request is invalid."""

    code = "data_error"
    exit_code = 3


class LLMError(AsyndbtError):
    """Base class for errors from the LLM layer."""

    code = "llm_error"
    exit_code = 4
    transient = False

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        model: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.model = model
        self.status = status


class LLMConfigError(LLMError):
    """The LLM cannot be used as configured (missing model file, bad URL, bad label words)."""

    code = "llm_config"


class LLMRateLimited(LLMError):
    """The backend refused the request for rate limiting (HTTP 429)."""

    code = "llm_rate_limited"
    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class LLMTimeout(LLMError):
    """The request did not finish in time."""

    code = "llm_timeout"
    transient = True


class LLMServerError(LLMError):
    """The backend failed on its side (HTTP 5xx, crash)."""

    code = "llm_server_error"
    transient = True


class LLMBadResponse(LLMError):
    """The backend answered with something we cannot interpret."""

    code = "llm_bad_response"
    transient = True


class BudgetExceeded(AsyndbtError):
    """A configured call, token or cost budget has been reached."""

    code = "budget_exceeded"
    exit_code = 5


class AlgorithmError(AsyndbtError):
    """The optimisation state or a message is invalid."""

    code = "algorithm_error"
    exit_code = 6


class RunError(AsyndbtError):
    """A run directory, checkpoint or resume request is invalid."""

    code = "run_error"
    exit_code = 7
