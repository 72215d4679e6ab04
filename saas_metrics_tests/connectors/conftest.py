"""One small simulated company shared by every connector test (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_metrics_tests.connectors.conn_helpers import generate_sources


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sources(tmp_path_factory.mktemp("connector_sources"))
