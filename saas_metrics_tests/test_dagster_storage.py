"""The event logs with kept connections (saas_metrics/dagster_storage.py): what a run stores is what
Dagster's own event log stores (the local home's SQLite one and the ephemeral instance's in-memory
one), another process's view reads it, old engines are closed, other threads can write."""

import threading
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)

from saas_metrics import dagster_storage
from saas_metrics.dagster_home import (
    PREVIOUS_DEFAULT_CONFIG,
    default_instance_config,
    prepare_dagster_home,
)
from saas_metrics.dagster_storage import (
    RUN_SHARD_ENGINES,
    KeptConnectionEventLogStorage,
    PooledSqliteEventLogStorage,
    ephemeral_instance,
)


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def numbers(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    context.log.info(f"partition {context.partition_key}")
    return dg.MaterializeResult(metadata={"partition": context.partition_key})


@dg.asset_check(asset=numbers)
def numbers_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _event_kinds(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.dagster_event.event_type_value for e in instance.all_logs(run_id) if e.dagster_event is not None]


def _run(instance: dg.DagsterInstance, partition: str) -> str:
    result = dg.materialize([numbers, numbers_check], instance=instance, partition_key=partition)
    assert result.success
    return result.run_id


def test_a_new_home_keeps_engines_and_stores_what_dagster_s_own_event_log_stores(tmp_path: Path) -> None:
    home = prepare_dagster_home(tmp_path / "home")
    assert (home / "dagster.yaml").read_text() == default_instance_config(home)
    ours = dg.DagsterInstance.from_config(str(home))
    plain_home = tmp_path / "plain"
    plain_home.mkdir()
    (plain_home / "dagster.yaml").write_text(PREVIOUS_DEFAULT_CONFIG)
    plain = dg.DagsterInstance.from_config(str(plain_home))
    try:
        assert type(ours.event_log_storage) is PooledSqliteEventLogStorage
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        run_ids = [_run(ours, "a"), _run(ours, "b")]
        plain_ids = [_run(plain, "a"), _run(plain, "b")]
        for run_id, plain_id in zip(run_ids, plain_ids, strict=True):
            assert _event_kinds(ours, run_id) == _event_kinds(plain, plain_id)
        # Another process's view of the home (a new instance: the webserver, the daemon) reads it all.
        other = dg.DagsterInstance.from_config(str(home))
        try:
            assert [_event_kinds(other, r) for r in run_ids] == [_event_kinds(ours, r) for r in run_ids]
            records = other.fetch_materializations(numbers.key, limit=10).records
            assert sorted(r.asset_materialization.partition for r in records) == ["a", "b"]
            check = other.event_log_storage.get_latest_asset_check_execution_by_key([numbers_check.check_key])
            assert check[numbers_check.check_key].run_id == run_ids[-1]
        finally:
            other.dispose()
        assert ours.event_log_storage.has_table("asset_check_executions")
        assert not ours.event_log_storage.has_table("no_such_table")
        # Dagster's files are where its own event log keeps them.
        assert {p.name for p in (home / "history" / "runs").glob("*.db")} == {"index.db", *(f"{r}.db" for r in run_ids)}
    finally:
        ours.dispose()
        plain.dispose()


def test_old_run_engines_are_closed_and_a_wipe_starts_clean(tmp_path: Path) -> None:
    home = prepare_dagster_home(tmp_path / "home")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [_run(instance, "a") for _ in range(RUN_SHARD_ENGINES + 3)]
        assert len(storage._engines) <= RUN_SHARD_ENGINES + 1  # the index shard and the newest run shards
        assert all("ASSET_MATERIALIZATION" in _event_kinds(instance, r) for r in run_ids)  # old shards reopen
        instance.wipe()
        # Every run shard's engine closed before its file went; the index (kept) was opened again.
        assert set(storage._engines) <= {INDEX_SHARD_NAME} and instance.get_runs() == []
        again = _run(instance, "b")
        assert "ASSET_MATERIALIZATION" in _event_kinds(instance, again)
    finally:
        instance.dispose()
    assert not storage._engines


def test_a_home_with_the_previous_default_config_gets_the_current_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(PREVIOUS_DEFAULT_CONFIG)
    prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == default_instance_config(home.resolve())
    own = "telemetry:\n  enabled: true\n"  # a config the user wrote is left alone
    (home / "dagster.yaml").write_text(own)
    prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == own


def test_the_ephemeral_instance_stores_what_dagster_s_own_stores_from_any_thread() -> None:
    ours, plain = ephemeral_instance(), dg.DagsterInstance.ephemeral()
    try:
        assert type(ours.event_log_storage) is KeptConnectionEventLogStorage
        assert ours.is_ephemeral and type(ours.run_launcher) is type(plain.run_launcher)
        run_ids = [_run(ours, "a")]
        # A run in another thread writes through the same kept connection (the CLI's runs do).
        worker = threading.Thread(target=lambda: run_ids.append(_run(ours, "b")))
        worker.start()
        worker.join()
        plain_ids = [_run(plain, "a"), _run(plain, "b")]
        assert [_event_kinds(ours, r) for r in run_ids] == [_event_kinds(plain, r) for r in plain_ids]
        records = ours.fetch_materializations(numbers.key, limit=10).records
        assert sorted(r.asset_materialization.partition for r in records) == ["a", "b"]
        check = ours.event_log_storage.get_latest_asset_check_execution_by_key([numbers_check.check_key])
        assert check[numbers_check.check_key].run_id == run_ids[-1]
        assert ours.event_log_storage.has_table("asset_check_executions")
        assert not ours.event_log_storage.has_table("no_such_table")
        assert {r.run_id for r in ours.get_runs()} == set(run_ids)
    finally:
        ours.dispose()
        plain.dispose()


def test_the_asset_key_columns_are_read_once_and_match_dagster_s_own(tmp_path: Path, monkeypatch) -> None:
    """Dagster inspects the asset key table's columns at every asset record look-up and asset event;
    both kept-connection storages answer from a first reading, the answer Dagster's own gives."""
    import traceback

    import sqlalchemy

    inspected: list[str] = []
    real_inspect = sqlalchemy.inspect

    def counting_inspect(subject: object, *args: object, **kwargs: object) -> object:
        callers = [frame.name for frame in traceback.extract_stack()]
        if "_has_asset_key_col_on_connection" in callers:  # not the run storage's or a new shard's set-up
            inspected.append(callers[-2])
        return real_inspect(subject, *args, **kwargs)

    home = prepare_dagster_home(tmp_path / "home")
    pooled = dg.DagsterInstance.from_config(str(home))
    kept, plain = ephemeral_instance(), dg.DagsterInstance.ephemeral()
    try:
        for instance in (pooled, kept):
            _run(instance, "a")  # the first readings: a run's events, an asset record look-up
            instance.get_asset_records([numbers.key])
            monkeypatch.setattr(sqlalchemy, "inspect", counting_inspect)
            _run(instance, "b")
            assert instance.get_asset_records([numbers.key])[0].asset_entry.last_materialization is not None
            assert inspected == [], f"{type(instance.event_log_storage).__name__} inspected again"
            monkeypatch.setattr(sqlalchemy, "inspect", real_inspect)
            storage, own = instance.event_log_storage, plain.event_log_storage
            for column in ("last_materialization_timestamp", "cached_status_data", "no_such_column"):
                assert storage.has_asset_key_col(column) == own.has_asset_key_col(column), column
            assert not storage.has_asset_key_col("no_such_column")
    finally:
        pooled.dispose()
        kept.dispose()
        plain.dispose()


def test_the_home_s_event_log_syncs_at_checkpoints_not_at_every_event(tmp_path: Path) -> None:
    """Every shard the runs wrote (the index and each run's) is a WAL database whose kept
    connections are at synchronous=NORMAL (1), not SQLite's FULL (2); a shard that is not in WAL
    mode keeps FULL."""
    import sqlalchemy as sa

    home = prepare_dagster_home(tmp_path / "home")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [_run(instance, "a"), _run(instance, "b")]
        assert set(run_ids) | {INDEX_SHARD_NAME} <= set(storage._engines)
        for shard in [INDEX_SHARD_NAME, *run_ids]:
            with storage._engine(shard).connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal", shard
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1, shard
        # A database in rollback-journal mode is left at FULL.
        plain = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}", pool_size=1, max_overflow=0)
        sa.event.listen(plain, "checkout", dagster_storage._normal_sync_in_wal)
        for _ in range(2):
            with plain.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        plain.dispose()
    finally:
        instance.dispose()
