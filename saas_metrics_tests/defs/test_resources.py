"""Credentials reach the resources through dagster.EnvVar only: the UI shows no password; the `gx`
resource hands a run the GX companion process."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from saas_metrics.compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from saas_metrics.config import QualityPolicy, Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.resources import (
    COMPANION_KEEP_MB,
    GreatExpectationsResource,
    SecretInConfigError,
    secret_url,
    sources_resource,
    warehouse_resources,
)
from saas_metrics.quality.companion import shared_companion

URL_ENV, PASSWORD_ENV = "SAAS_METRICS_WAREHOUSE_URL", "SAAS_METRICS_WAREHOUSE_PASSWORD"


def _shown(resource: dg.ConfigurableResource) -> str:
    """The configuration the UI's resource page displays."""
    return resource.get_resource_definition().config_schema.default_value_as_json_str


def test_a_url_without_password_is_kept_as_it_is() -> None:
    assert secret_url("sqlite:////tmp/w.db", URL_ENV, PASSWORD_ENV) == ("sqlite:////tmp/w.db", None)


def test_a_url_with_password_from_its_variable_becomes_that_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "postgresql://u:hunter22@h/db")
    url, password = secret_url("postgresql://u:hunter22@h/db", URL_ENV, PASSWORD_ENV)
    assert url == dg.EnvVar(URL_ENV) and password is None
    resources = warehouse_resources(Settings())
    assert all("hunter22" not in _shown(r) and URL_ENV in _shown(r) for r in resources.values())
    # A run resolves the env var and connects with the password.
    assert resources["warehouse"].process_config_and_initialize().warehouse.url == "postgresql://u:hunter22@h/db"


def test_a_password_given_apart_goes_in_at_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "hunter22")
    settings = Settings(warehouse_url="postgresql://u@h/db", sources_dir=tmp_path)
    resources = warehouse_resources(settings)
    assert "hunter22" not in _shown(resources["warehouse"]) and PASSWORD_ENV in _shown(resources["warehouse"])
    assert resources["warehouse"].process_config_and_initialize().warehouse.url == "postgresql://u:hunter22@h/db"
    # The IO manager holds the table registry (a nested resource): it is initialised as a context manager.
    with resources["io_manager"].process_config_and_initialize_cm() as io_manager:
        assert io_manager.warehouse.url == "postgresql://u:hunter22@h/db"


def test_a_password_in_a_config_file_or_argument_is_refused_without_showing_it() -> None:
    with pytest.raises(SecretInConfigError, match=r"postgresql://u:\*\*\*@h/db holds a password") as error:
        warehouse_resources(Settings(warehouse_url="postgresql://u:hunter22@h/db"))
    assert "hunter22" not in str(error.value)


def test_the_sql_replica_url_and_tokens_are_env_vars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAAS_METRICS_CONNECTORS__SQL_REPLICA_URL", "postgresql://r:hunter22@replica/db")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_123456")
    resource = sources_resource(Settings(sources_dir=tmp_path))
    assert "hunter22" not in _shown(resource) and "sk_live_123456" not in _shown(resource)
    resolved = resource.process_config_and_initialize()
    assert resolved.connectors_config().sql_replica_url == "postgresql://r:hunter22@replica/db"
    assert resolved.credentials().stripe_api_key == "sk_live_123456"


def test_the_gx_resource_serves_a_run_with_the_process_s_companion(tmp_path: Path) -> None:
    """The `gx` resource: its setup takes this process's GX companion (quality/companion.py) for the
    run and its teardown waits for the companion's Data Docs pages; off, GX runs in the run's process."""
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        assert gx.run_companion is not None and gx.run_companion is shared_companion() and gx.run_companion.alive
    with GreatExpectationsResource(companion=False).process_config_and_initialize_cm() as gx:
        assert gx.run_companion is None
    # The setting reaches the code location's resource.
    settings = Settings(sources_dir=tmp_path, warehouse_url=f"sqlite:///{tmp_path / 'w.db'}",
                        quality=QualityPolicy(gx_companion=False))
    assert build_definitions(settings).resources["gx"].companion is False
    assert build_definitions(Settings(sources_dir=tmp_path)).resources["gx"].companion is True


def test_a_backfill_ends_a_grown_companion_once_its_last_validating_step_has_finished() -> None:
    """Its metric steps over the whole window are the run's heaviest: a companion that holds memory
    worth giving back (more than COMPANION_KEEP_MB above its start) is ended before them. One that
    grew less, and a one-month run's, are kept for the process's next run."""
    messages: list[str] = []

    def step(name: str, first: str, last: str) -> SimpleNamespace:
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        return SimpleNamespace(op_def=SimpleNamespace(name=name), run=SimpleNamespace(tags=tags),
                               log=SimpleNamespace(info=messages.append, warning=messages.append))

    validating = ["ingest_billing", "ingest_crm"]
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        companion = gx.run_companion
        gx.step_finished(step("ingest_billing", "2025-01-01", "2025-01-01"), validating)
        gx.step_finished(step("ingest_crm", "2025-01-01", "2025-01-01"), validating)
        assert gx.run_companion is companion and companion.alive  # one month: kept, nothing said
    assert messages == []
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        companion = gx.run_companion
        assert companion is not None and companion.alive
        gx.step_finished(step("ingest_billing", "2025-01-01", "2025-03-01"), validating)
        gx.step_finished(step("ingest_crm", "2025-01-01", "2025-03-01"), validating)
        assert companion.alive and gx.run_companion is None  # kept, and the run is done with it
        # Measured by the companion once GX was imported (GX and pandas: well over 100 MiB).
        assert companion.started_mb is not None and companion.started_mb > 100
        [kept] = messages
        match = re.fullmatch(rf"Great Expectations: companion process {companion.pid} kept after the run's last "
                             r"validation \(([\d,]+) MiB, (-?[\d,]+) MiB above its start\)", kept)
        assert match is not None, kept
        held, grown = (int(g.replace(",", "")) for g in match.groups())
        assert abs(held - grown - companion.started_mb) <= 1  # rounding
        assert grown <= COMPANION_KEEP_MB
    messages.clear()
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        assert gx.run_companion is companion
        gx.step_finished(step("ingest_billing", "2025-01-01", "2025-03-01"), validating)
        assert companion.alive  # a validating step is still to come
        companion.started_mb = companion.resident_mb - COMPANION_KEEP_MB - 1  # as if a large backfill had grown it
        gx.step_finished(step("ingest_crm", "2025-01-01", "2025-03-01"), validating)
        assert gx.run_companion is None and not companion.alive
        [ended] = messages
        assert ended.startswith(f"Great Expectations: companion process {companion.pid} ended after the run's last validation, holding ")
    # The process's next run starts a new one.
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        assert gx.run_companion is not None and gx.run_companion.alive and gx.run_companion is not companion


def test_without_proc_a_backfill_ends_the_companion_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where this process cannot read the companion's memory (no /proc), a backfill ends it after its
    last validation: the large backfill's memory bound does not depend on the figure."""
    from saas_metrics import proc_status

    messages: list[str] = []
    tags = {ASSET_PARTITION_RANGE_START_TAG: "2025-01-01", ASSET_PARTITION_RANGE_END_TAG: "2025-03-01"}
    step = SimpleNamespace(op_def=SimpleNamespace(name="ingest_billing"), run=SimpleNamespace(tags=tags),
                           log=SimpleNamespace(info=messages.append, warning=messages.append))
    with GreatExpectationsResource().process_config_and_initialize_cm() as gx:
        companion = gx.run_companion
        assert companion is not None
        monkeypatch.setattr(proc_status, "PROC", Path("/nonexistent"))
        gx.step_finished(step, ["ingest_billing"])
        assert not companion.alive and companion.resident_mb is None
    assert messages == [f"Great Expectations: companion process {companion.pid} ended after the run's last validation"]
