"""The shared HTTP client of every API connector: JSON in/out, retries, rate limits, clear auth errors.

- 429: wait ``Retry-After`` (seconds or an HTTP date; capped by ``max_retry_after_seconds``), else
  exponential backoff; then retry.
- 5xx, timeouts and connection errors: exponential backoff (``backoff_initial_seconds`` x 2^n, capped),
  at most ``max_attempts`` attempts in all; then :class:`SourceApiError`.
- 401/403 (or what ``is_auth_error`` says): :class:`SourceAuthError` at once, naming the source system
  and what to check. Other 4xx: :class:`SourceApiError` with the response's error text.

Credentials travel only in request headers; no message, log line or exception contains them.
A connector either returns a complete extraction or raises: callers never see partial results.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from saas_metrics.connectors.config import RetryConfig

logger = logging.getLogger(__name__)

AuthErrorTest = Callable[[httpx.Response], bool]


class SourceApiError(RuntimeError):
    """A source system's API failed (after retries where retrying makes sense)."""

    def __init__(self, system: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.status = status


class SourceAuthError(SourceApiError):
    """The API rejected the credentials (or they are missing): nothing was extracted."""


class _Retryable(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def default_auth_error(response: httpx.Response) -> bool:
    return response.status_code in (401, 403)


def _error_text(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")


class ApiClient:
    """JSON requests to one source system's API with retries (see the module docstring).

    ``auth_hint`` completes the 401/403 message, e.g. "check STRIPE_API_KEY has read access to ...".
    ``sleep`` is injectable so tests can record the waits instead of sleeping them.
    """

    def __init__(self, system: str, base_url: str, *, headers: Mapping[str, str], auth_hint: str,
                 retry: RetryConfig | None = None, is_auth_error: AuthErrorTest = default_auth_error,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/") + "/"
        self.auth_hint = auth_hint
        self.retry = retry or RetryConfig()
        self.is_auth_error = is_auth_error
        self.sleep = sleep
        self.requests_sent = 0
        self._client = httpx.Client(headers=dict(headers), timeout=self.retry.timeout_seconds, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path_or_url: str) -> str:
        """An absolute URL for a path (relative to the base URL) or a ``next`` link of the API, which must
        stay on the base URL's origin (credentials are never sent elsewhere)."""
        url = urljoin(self.base_url, path_or_url.lstrip("/")) if "://" not in path_or_url else path_or_url
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (base.scheme, base.netloc) != (target.scheme, target.netloc):
            raise SourceApiError(self.system, f"refusing to follow a link to another host: {target.scheme}://{target.netloc}")
        return url

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        backoff = self.retry.backoff_initial_seconds * 2 ** (state.attempt_number - 1)
        return min(backoff, self.retry.backoff_max_seconds)

    def _send_once(self, method: str, url: str, params: Mapping[str, Any] | None, json_body: Any) -> Any:
        self.requests_sent += 1
        label = f"{method} {urlsplit(url).path}"
        try:
            response = self._client.request(method, url, params=params, json=json_body)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(f"{label}: {type(exc).__name__}") from exc
        if self.is_auth_error(response):
            raise SourceAuthError(self.system, f"credentials rejected ({response.status_code}) on {label}: {self.auth_hint}",
                                  status=response.status_code)
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.retry.max_retry_after_seconds:
                raise SourceApiError(self.system, f"rate limited on {label}: Retry-After {retry_after:.0f}s exceeds "
                                     f"max_retry_after_seconds={self.retry.max_retry_after_seconds:.0f}", status=429)
            raise _Retryable(f"{label}: HTTP 429 (rate limited)", retry_after=retry_after, status=429)
        if response.status_code >= 500:
            raise _Retryable(f"{label}: HTTP {response.status_code}", status=response.status_code)
        if response.status_code >= 400:
            raise SourceApiError(self.system, f"{label} failed: HTTP {response.status_code}: {_error_text(response)}",
                                 status=response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise SourceApiError(self.system, f"{label}: response is not JSON: {_error_text(response)}") from exc

    def request(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """The decoded JSON body of a successful response; raises :class:`SourceApiError` otherwise."""
        url = self.url(path_or_url)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning("%s: %s; retry %d/%d in %.2fs", self.system, exc, state.attempt_number,
                           self.retry.max_attempts - 1, state.upcoming_sleep)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts), wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable), sleep=self.sleep, before_sleep=before_sleep, reraise=True,
        )
        try:
            return retrying(self._send_once, method, url, params, json)
        except _Retryable as exc:
            raise SourceApiError(self.system, f"{exc} (gave up after {self.retry.max_attempts} attempts)",
                                 status=exc.status) from exc

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path_or_url, params=params)

    def post(self, path_or_url: str, json: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path_or_url, params=params, json=json)


def require_secret(system: str, value: str | None, env_var: str, purpose: str) -> str:
    """The secret, or a :class:`SourceAuthError` saying which environment variable to set."""
    if not value:
        raise SourceAuthError(system, f"no credentials: set {env_var} ({purpose})")
    return value
