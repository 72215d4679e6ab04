"""The shared HTTP client against a real server on 127.0.0.1: retries, Retry-After, auth errors, timeouts."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from saas_metrics.connectors.config import RetryConfig
from saas_metrics.connectors.http import (
    ApiClient,
    SourceApiError,
    SourceAuthError,
    parse_retry_after,
)
from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Response


def _ok(request, server) -> Response:
    return Response(200, {"ok": True, "n": len(server.requests)})


def _client(server: FakeServer, waits: list[float], **retry) -> ApiClient:
    config = RetryConfig(**{"max_attempts": 4, "backoff_initial_seconds": 0.5, "backoff_max_seconds": 1.5, "timeout_seconds": 5.0, **retry})
    return ApiClient("acme", server.url, headers={"Authorization": "Bearer secret-token"},
                     auth_hint="check ACME_TOKEN", retry=config, sleep=waits.append)


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Sun, 01 Jun 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Jun 2025 11:00:00 GMT", now=now) == 0.0  # in the past: retry now
    assert parse_retry_after("soon", now=now) is None and parse_retry_after(None) is None


def test_5xx_then_success_backs_off_exponentially() -> None:
    waits: list[float] = []
    with FakeServer(_ok) as server:
        server.failures = [Response(500, {}), Response(502, {}), Response(503, {})]
        with _client(server, waits) as client:
            assert client.get("/thing") == {"ok": True, "n": 4}
    assert waits == [0.5, 1.0, 1.5]  # 0.5 x 2^n, capped at 1.5


def test_retry_after_seconds_and_date_are_honoured() -> None:
    waits: list[float] = []
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), usegmt=True)
    with FakeServer(_ok) as server:
        server.failures = [Response(429, {}, {"Retry-After": "3"}), Response(429, {}, {"Retry-After": later}), Response(429, {})]
        with _client(server, waits) as client:
            assert client.get("/thing")["ok"]
    assert waits[0] == 3.0
    assert 15.0 < waits[1] <= 20.0
    assert waits[2] == 1.5  # no header: backoff of the 3rd attempt (0.5 x 4 capped at 1.5)


def test_too_long_retry_after_fails_instead_of_hanging() -> None:
    with FakeServer(_ok) as server:
        server.failures = [Response(429, {}, {"Retry-After": "3600"})]
        with _client(server, [], max_retry_after_seconds=60) as client, pytest.raises(SourceApiError, match="Retry-After 3600s exceeds"):
            client.get("/thing")


def test_gives_up_after_max_attempts_naming_the_system() -> None:
    waits: list[float] = []
    with FakeServer(lambda r, s: Response(503, {"error": "down"})) as server:
        with _client(server, waits) as client, pytest.raises(SourceApiError) as error:
            client.get("/thing")
        assert len(server.requests) == 4
    assert str(error.value) == "acme: GET /thing: HTTP 503 (gave up after 4 attempts)"
    assert len(waits) == 3


def test_401_is_not_retried_and_never_shows_the_secret() -> None:
    with FakeServer(lambda r, s: Response(401, {"error": "bad token secret-token"})) as server:
        with _client(server, []) as client, pytest.raises(SourceAuthError) as error:
            client.get("/thing")
        assert len(server.requests) == 1
    assert str(error.value) == "acme: credentials rejected (401) on GET /thing: check ACME_TOKEN"
    assert error.value.status == 401 and "secret-token" not in str(error.value)


def test_other_4xx_fails_at_once_with_the_api_message() -> None:
    with FakeServer(lambda r, s: Response(400, {"error": {"message": "No such parameter: foo"}})) as server:
        with _client(server, []) as client, pytest.raises(SourceApiError, match=r"HTTP 400.*No such parameter: foo"):
            client.get("/thing")
        assert len(server.requests) == 1


def test_timeout_is_retried() -> None:
    waits: list[float] = []
    with FakeServer(_ok) as server:
        server.delay_first = 1.0
        with _client(server, waits, timeout_seconds=0.2) as client:
            assert client.get("/thing")["ok"]
    assert waits == [0.5]
