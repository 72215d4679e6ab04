"""Great Expectations in a companion process, on the machine's other core.

A run executes its steps one after another in one process (the in-process executor), so on a
machine with two cores one of them idles, while GX costs the run's process CPU work that no step
result waits for: importing GX (paid by the first step that validates) and rendering each validated
table's Data Docs page. The companion is a second Python process that a run starts with its
resources (the ``gx`` resource, :class:`saas_metrics.defs.resources.GreatExpectationsResource`;
``saas-metrics run`` starts it earlier, before it imports Dagster):

- it imports GX and builds its context as soon as it starts, while the run builds its plan and
  reads its first source;
- a step sends it each batch to validate and waits for the findings (they decide which rows are
  quarantined);
- once it has answered, it renders the table's Data Docs page from the GX result it kept, while the
  step goes on; the run waits for the pages before it ends (the resource's teardown), so a run that
  has ended has its Data Docs.

The verdicts are the ones the run's own process would reach: the companion runs the same functions
(:func:`saas_metrics.quality.gx_context.run_suite`, :func:`saas_metrics.quality.gx_results.findings_from_gx`)
on the same frame, pickled (equal values and dtypes), and GX is never imported by the run's process.

Requests are pickled ``(kind, ticket, payload)`` on the companion's stdin; answers ``(ticket, ok,
answer)`` on a copy of its stdout, whose own descriptor it points at stderr (a library that prints
cannot corrupt the answers). One thread serves the requests in order, so answers come in order.

A companion that ends (killed, out of memory) raises :class:`CompanionGone` at the next request; the
run's process then validates and renders itself (a warning says so), and the pages the companion had
not rendered are reported at the run's end. The process lives as long as the process that started
it (it ends when its stdin closes), so the runs of one process (tests, a notebook) share it and
import GX once, as they share the in-process GX context; a backfill whose validations grew it ends it
once its last validating step has finished, to free its memory for the metric steps (the ``gx``
resource's ``step_finished``), and the next run starts another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Any

import pandas as pd

from saas_metrics.arrow_pool import release_unused_memory, use_returning_arrow_pool
from saas_metrics.proc_status import status_mb
from saas_metrics.quality import data_docs, gx_context
from saas_metrics.quality.expectations import SuiteVariant
from saas_metrics.quality.gx_results import SuiteFindings, findings_from_gx

logger = logging.getLogger(__name__)

#: Seconds a companion is given to exit once its stdin is closed, before it is killed.
EXIT_GRACE_SECONDS = 10.0


class CompanionGone(RuntimeError):
    """The companion process has ended: the caller validates in its own process."""


class CompanionError(RuntimeError):
    """A request failed inside the companion (its traceback is the message)."""


class GXCompanion:
    """The client of one companion process (see the module docstring). Not for concurrent use by
    several runs; a lock keeps the requests of one run's threads whole."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._lock = threading.Lock()
        self._next_ticket = 0
        self._unanswered: list[tuple[int, str]] = []  # (ticket, what it asked), in the order sent
        self._failures: list[str] = []  # asynchronous requests that failed, until drain() returns them
        self._gone = False
        #: The process's resident memory once it had imported GX (MiB; None until known, or without /proc).
        self.started_mb: float | None = None
        self._warm_ticket: int | None = None  # the request whose answer is started_mb

    @classmethod
    def start(cls) -> GXCompanion:
        """Start a companion; it imports GX at once (:func:`serve`'s ``warm`` request)."""
        env = dict(os.environ)
        # The same saas_metrics package as this process's, wherever it was imported from.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        env.setdefault("GX_ANALYTICS_ENABLED", "false")
        # Not ``-m``: the quality package imports this module first, and it would run twice.
        entry = f"from {__name__} import main; raise SystemExit(main())"
        process = subprocess.Popen([sys.executable, "-c", entry], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        companion = cls(process)
        companion._warm_ticket = companion._send("warm", None, "importing Great Expectations")
        return companion

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def resident_mb(self) -> float | None:
        """The process's resident memory now, in MiB (None once it has ended, or without /proc)."""
        return None if self._gone else status_mb("VmRSS", self._process.pid)

    @property
    def alive(self) -> bool:
        return not self._gone and self._process.poll() is None

    def _send(self, kind: str, payload: Any, description: str) -> int:
        if self._gone:
            raise CompanionGone("the GX companion process has ended")
        ticket = self._next_ticket
        self._next_ticket += 1
        stdin = self._process.stdin
        assert stdin is not None
        try:
            pickle.dump((kind, ticket, payload), stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
        except OSError as exc:  # a broken pipe: the process has ended
            raise self._ended(None) from exc
        self._unanswered.append((ticket, description))
        return ticket

    def _answer(self, ticket: int, *, awaited: bool = True) -> Any:
        """The answer to ``ticket``; the answers before it (asynchronous requests) are read on the
        way and their failures kept for :meth:`drain`. ``awaited``: the caller handles the failure
        of ``ticket`` itself (else it is kept with the others)."""
        stdout = self._process.stdout
        assert stdout is not None
        while self._unanswered:
            expected, description = self._unanswered[0]
            try:
                got, ok, answer = pickle.load(stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise self._ended(ticket if awaited else None) from exc
            self._unanswered.pop(0)
            if got != expected:  # cannot happen with one serving thread; never pair a wrong answer
                self._process.kill()
                raise self._ended(ticket if awaited else None)
            if ok and got == self._warm_ticket:
                self.started_mb = answer
            if got == ticket:
                if not ok:
                    raise CompanionError(f"{description} failed in the GX companion process:\n{answer}")
                return answer
            if not ok:
                self._failures.append(f"{description} failed in the GX companion process:\n{answer}")
        raise ValueError(f"request {ticket} awaits no answer")

    def _ended(self, awaited: int | None) -> CompanionGone:
        """Mark the companion gone; the asynchronous requests it left undone become failures."""
        self._gone = True
        try:
            code: int | None = self._process.wait(timeout=EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        reason = f"the GX companion process ended (exit code {code})"
        self._failures.extend(f"{description}: not done, {reason}" for ticket, description in self._unanswered
                              if ticket != awaited)
        self._unanswered.clear()
        return CompanionGone(reason)

    def validate(self, frame: pd.DataFrame, variant: SuiteVariant, parameters: dict[str, Any], *,
                 detail_passing: bool, pii_columns: frozenset[str], keep: bool) -> tuple[SuiteFindings, int | None]:
        """The findings of ``variant``'s suite on ``frame`` (what GX validates of it:
        :func:`saas_metrics.quality.gx_context.batch_frame`), and, when ``keep``, the handle under
        which the companion keeps the GX result for :meth:`render`."""
        with self._lock:
            ticket = self._send("validate", (frame, variant, parameters, detail_passing, pii_columns, keep),
                                f"validating {variant.table}")
            return self._answer(ticket), ticket if keep else None

    def render(self, handle: int, table: str, fingerprint: str, docs_dir: Path) -> None:
        """Ask for ``table``'s Data Docs page from the result kept under ``handle``
        (:func:`saas_metrics.quality.data_docs.render_table_page`); returns at once."""
        with self._lock:
            # Resolved here: the companion's working directory is the one this process had when it
            # started the companion, which a later chdir (a notebook, a test) leaves behind.
            self._send("render", (handle, table, fingerprint, str(Path(docs_dir).resolve())), f"the Data Docs page of {table}")

    def drain(self) -> list[str]:
        """Wait until every request sent is done; the failures of the asynchronous ones since the
        last drain (each once)."""
        with self._lock:
            if self._unanswered:
                try:
                    self._answer(self._unanswered[-1][0], awaited=False)
                except CompanionError as exc:
                    self._failures.append(str(exc))
                except CompanionGone:
                    pass  # its undone requests are among the failures
            failures, self._failures = self._failures, []
            return failures

    def close(self) -> None:
        """End the process (it exits when its stdin closes)."""
        self._gone = True
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            self._process.wait(timeout=EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


_shared: GXCompanion | None = None
_shared_lock = threading.Lock()


def shared_companion() -> GXCompanion:
    """This process's companion, started on the first call and again after one has ended."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = GXCompanion.start()
        return _shared


def start_shared_companion() -> None:
    """Start this process's companion ahead of the run that will use it (:func:`shared_companion`);
    where no process can be started, the run's gx resource says so and GX runs in the run's process."""
    with contextlib.suppress(OSError):
        shared_companion()


# --- the companion process ---------------------------------------------------------------------


def _handle(kind: str, ticket: int, payload: Any, kept: dict[int, Any]) -> Any:
    if kind == "warm":
        gx_context.get_gx_context()
        return status_mb("VmRSS")
    if kind == "validate":
        frame, variant, parameters, detail_passing, pii, keep = payload
        result = gx_context.run_suite(frame, variant, parameters, detail_passing=detail_passing)
        if keep:
            kept[ticket] = result
        return findings_from_gx(result, pii)
    if kind == "render":
        handle, table, fingerprint, docs_dir = payload
        result = kept.pop(handle)
        docs = Path(docs_dir)
        docs.mkdir(parents=True, exist_ok=True)
        if data_docs.render_table_page(table, result, fingerprint, docs) or not (docs / data_docs.INDEX_FILE).is_file():
            data_docs.write_root_index(docs)
        return None
    raise ValueError(f"unknown request {kind!r}")


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until ``requests`` ends; a request that raises is answered with its traceback."""
    kept: dict[int, Any] = {}  # GX results awaiting their Data Docs page, by the validation's ticket
    while True:
        try:
            kind, ticket, payload = pickle.load(requests)
        except EOFError:
            return
        try:
            answer, ok = _handle(kind, ticket, payload, kept), True
        except Exception:
            answer, ok = traceback.format_exc(), False
        pickle.dump((ticket, ok, answer), answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()
        del payload, answer
        if kind in ("validate", "render"):
            # Answered first: the step goes on meanwhile. A large backfill's batches would otherwise
            # stay resident here through the run's heaviest steps, which validate nothing.
            release_unused_memory()


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the run's process decides what happens,
    # and this process ends when that one closes its stdin (or ends).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    use_returning_arrow_pool()  # as the run's process does (saas_metrics/arrow_pool.py)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, answers)
    return 0
