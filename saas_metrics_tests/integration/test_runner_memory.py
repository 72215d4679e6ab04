"""`materialise` does not keep step outputs in memory: once the IO manager has stored an output,
nothing of the run holds the value (``execute_in_process`` would keep every one until the end)."""

from __future__ import annotations

import gc
import weakref

import dagster as dg

from saas_metrics.compat import execute_without_output_capture
from saas_metrics.dagster_storage import ephemeral_instance


class Payload:
    """Stands for a big frame; weakly referenceable so the test can see whether it is still alive."""


class DiscardingIOManager(dg.IOManager):
    """Stores nothing (like the warehouse, the value's memory is not needed after the write)."""

    def __init__(self, produced: list[weakref.ref[Payload]]) -> None:
        self.produced = produced

    def handle_output(self, context: dg.OutputContext, obj: Payload) -> None:
        self.produced.append(weakref.ref(obj))

    def load_input(self, context: dg.InputContext) -> Payload:
        return Payload()


def _job_recording_liveness() -> tuple[dg.JobDefinition, list[weakref.ref[Payload]], list[bool]]:
    produced: list[weakref.ref[Payload]] = []
    alive_downstream: list[bool] = []

    @dg.asset
    def producer() -> Payload:
        return Payload()

    @dg.asset(deps=[producer])
    def consumer() -> None:
        gc.collect()
        alive_downstream.append(produced[0]() is not None)

    defs = dg.Definitions(assets=[producer, consumer],
                          resources={"io_manager": dg.IOManagerDefinition.hardcoded_io_manager(DiscardingIOManager(produced))})
    return defs.resolve_implicit_global_asset_job_def(), produced, alive_downstream


def test_an_output_is_freed_once_stored() -> None:
    job, produced, alive = _job_recording_liveness()
    result = execute_without_output_capture(job, run_config={}, instance=ephemeral_instance(), tags={},
                                            raise_on_error=True)
    assert result.success
    assert len(produced) == 1 and alive == [False]


def test_execute_in_process_would_keep_it_alive() -> None:
    """The control: the test above can tell, because Dagster's own call does keep the output."""
    job, _, alive = _job_recording_liveness()
    assert job.execute_in_process(instance=ephemeral_instance()).success
    assert alive == [True]
