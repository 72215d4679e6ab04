"""The deployment files load and say what docs/deployment.md promises (no engine runs here:
the compose file and the helm values are checked as YAML, dagster.yaml by Dagster's own schema)."""

from __future__ import annotations

import pytest
import yaml

from saas_metrics.config import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
PG_ENV = {"DAGSTER_PG_HOST": "db", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
          "DAGSTER_PG_PASSWORD": "secret", "DAGSTER_PG_DB": "dagster"}


def test_dagster_yaml_passes_dagster_validation_with_postgres_queue_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(DEPLOY))
    assert "postgres" in config["storage"]
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert [lim["key"] for lim in limits] == ["dagster/backfill"] and limits[0]["limit"] == 3
    assert config["run_retries"]["enabled"] is True


def test_compose_has_postgres_webserver_daemon_and_grpc_user_code() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "user_code", "webserver", "daemon"}
    assert services["user_code"]["command"][:3] == ["dagster", "api", "grpc"]
    for name in ("webserver", "daemon"):
        assert services[name]["environment"]["DAGSTER_PG_HOST"] == "postgres"
        assert "workspace.yaml" in services[name]["command"][-1]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    assert grpc["host"] == "user_code" and grpc["port"] == 4000
    assert (DEPLOY / "Dockerfile").read_text().count("saas_metrics.definitions") == 1


def test_helm_values_use_the_k8s_run_launcher_and_the_same_queue_limits() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "saas_metrics.definitions"]
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["tagConcurrencyLimits"][0]["key"] == "dagster/backfill"
    assert values["dagsterDaemon"]["runRetries"]["enabled"] is True
