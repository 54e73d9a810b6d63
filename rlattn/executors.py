"""Where experiment tasks run: this process, a local process pool, or a Dask cluster.

A task is any picklable callable with ``label``, ``finished()`` and ``__call__() -> TaskOutcome``
(see :mod:`rlattn.experiments`). Tasks write their own result files atomically and return only a
small :class:`TaskOutcome`, so whichever backend runs them, the client gathers a few bytes per
sequence and the files on disk are the record. What makes a run survive faults:

* finished tasks are skipped before anything is submitted (re-running only runs what is missing);
* a task that fails by itself (bad data) returns its error instead of raising, so it is reported
  once and never retried;
* on Dask, a worker that dies mid-task has its task rescheduled on another worker by the scheduler
  (up to ``distributed.scheduler.allowed-failures`` times), and since a result is only ever
  renamed into place when complete, the retry cannot leave a half or a duplicate file;
* Ctrl-C stops the client, cancels what is pending and returns what had finished (results of
  tasks that complete while the workers are stopped are kept too, and counted).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm  # text bars: ipywidgets bars in headless notebook runs can hang nbclient

from rlattn.allocator import keep_large_allocations
from rlattn.errors import RlattnError


@dataclass(frozen=True)
class TaskOutcome:
    """What a worker sends back: never boxes, only the facts a summary needs."""

    label: str
    error: str | None = None
    seconds: float = 0.0
    fps: float | None = None
    host: str = ""
    pid: int = 0
    busy: bool = False  # left alone: another process was tracking it into the same folder
    found: bool = False  # not tracked: its result was there when the task got its turn


class Task(Protocol):
    label: str

    def finished(self) -> bool: ...

    def __call__(self) -> TaskOutcome: ...


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    outcomes: list[TaskOutcome] = field(default_factory=list)
    interrupted: bool = False
    wall_seconds: float = 0.0

    def record(self, outcome: TaskOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.busy:
            self.busy.append(outcome.label)
        elif outcome.found:
            self.skipped.append(outcome.label)
        elif outcome.error is None:
            self.done.append(outcome.label)
        else:
            self.failed[outcome.label] = outcome.error


def describe_failure(exc: BaseException) -> str:
    """One line for a failed task: our own errors as they are, others with where they arose."""
    if isinstance(exc, RlattnError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def limit_threads(threads: int | None) -> None:
    """Give this process ``threads`` CPU threads (torch and OpenCV): N workers on N cores must not
    each start N threads, which on our 2-core machines made runs 10-30x slower."""
    if not threads:
        return
    import cv2
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def run_with_threads(task: Task, threads: int | None, owner: int | None = None) -> TaskOutcome:
    """Run ``task`` with ``threads`` CPU threads in the thread that runs it (a pool or Dask worker);
    ``owner``: the pid of the run that started this worker process (see :func:`exit_with_owner`)."""
    if owner is not None:
        exit_with_owner(owner)
    limit_threads(threads)
    keep_large_allocations()  # Dask's nannies lower glibc's thresholds (rlattn.allocator)
    return task()


_WATCHED: int | None = None


def exit_with_owner(owner: int, interval: float = 1.0) -> None:
    """End this worker process within ``interval`` seconds of the run that started it.

    A killed run (SIGKILL, SIGTERM, a closed terminal) cannot stop its workers, and a worker left
    behind would track the rest of its queue for hours, holding a gigabyte, with nobody to read its
    results. A worker's parent is the run (a pool's worker, or a LocalCluster's, whose nannies live
    in the run's process): when the parent changes, the run is gone.
    """
    global _WATCHED
    if _WATCHED == owner:
        return
    _WATCHED = owner

    def watch() -> None:
        while os.getppid() == owner:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="rlattn-exit-with-owner", daemon=True).start()


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def execute(
    tasks: Sequence[Task],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    client=None,
    gpu: bool = False,
    progress: bool = True,
    desc: str = "tasks",
) -> RunSummary:
    """Run every unfinished task and return what happened.

    ``client`` (a ``distributed.Client``) or ``scheduler`` (``"tcp://host:8786"``, or ``"local"``
    for a ``LocalCluster`` of ``workers`` processes) sends the tasks to Dask; otherwise they run
    here (``workers <= 1``) or on a local process pool. ``gpu`` asks Dask for workers that
    advertise the resource ``GPU`` and runs one task at a time on each.
    """
    start = time.perf_counter()
    summary = RunSummary()
    todo = []
    for task in tasks:
        if task.finished():
            summary.skipped.append(task.label)
        else:
            todo.append(task)
    bar = tqdm(total=len(todo), desc=desc, unit="task", disable=not progress or not todo)

    def record(outcome: TaskOutcome) -> None:
        summary.record(outcome)
        if outcome.error is not None:
            tqdm.write(f"failed: {outcome.label}: {outcome.error}")
        bar.update(1)

    try:
        if todo and (client is not None or scheduler):
            _run_dask(todo, record, scheduler, client, workers, gpu)
        elif todo and workers > 1:
            _run_pool(todo, record, workers)
        else:
            for task in todo:
                bar.set_postfix_str(task.label)
                record(task())
    except KeyboardInterrupt:
        summary.interrupted = True
        recorded = set(summary.done) | set(summary.failed)
        for task in todo:  # tasks that completed while the workers were being stopped
            if task.label not in recorded and task.finished():
                summary.done.append(task.label)
    finally:
        bar.close()
        summary.wall_seconds = time.perf_counter() - start
    return summary


def _run_pool(todo: list[Task], record: Callable[[TaskOutcome], None], workers: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: a forked child of a process that has run torch's thread pool can hang
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=exit_with_owner, initargs=(os.getpid(),)
    )
    threads = threads_per_worker(workers)
    try:
        futures = {pool.submit(run_with_threads, task, threads): task for task in todo}
        for fut in as_completed(futures):
            try:
                record(fut.result())
            except BrokenProcessPool:
                record(
                    TaskOutcome(
                        futures[fut].label,
                        "a worker process died (killed, or out of memory); re-run to retry, or use --scheduler "
                        "local, which retries such tasks on another worker",
                    )
                )
    except KeyboardInterrupt:
        # shutdown alone lets each worker finish the sequence it is on; end them now (a result only
        # appears when complete, so nothing half-written is left)
        workers_now = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers_now:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise RlattnError(
            "--scheduler needs Dask: pip install 'rlattn[cluster]' (dask[distributed]) on the client and workers"
        ) from None
    return distributed


def _run_dask(
    todo: list[Task],
    record: Callable[[TaskOutcome], None],
    scheduler: str | None,
    client,
    workers: int,
    gpu: bool,
) -> None:
    distributed = _import_distributed()
    cluster = None
    threads = None  # a cluster we did not start: its workers' own settings hold
    owner = None  # ...and its workers outlive this run
    own_client = client is None
    if own_client:
        if scheduler == "local":
            cluster = distributed.LocalCluster(
                n_workers=max(workers, 1),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                resources={"GPU": 1} if gpu else None,
            )
            threads = threads_per_worker(workers)  # Dask's nannies start workers with 1 OpenMP thread
            owner = os.getpid()  # the nannies run in this process: the workers are its children
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(scheduler, timeout="20s")
            except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address at all
                raise RlattnError(
                    f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); give 'local' or tcp://HOST:PORT"
                ) from None
    try:
        resources = None
        if gpu:
            resources = {"GPU": 1}
            infos = client.scheduler_info().get("workers", {}).values()
            if not any(w.get("resources", {}).get("GPU") for w in infos):
                raise RlattnError(
                    "--device cuda on Dask needs workers started with --resources GPU=1 "
                    "(e.g. CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1 "
                    "--resources GPU=1); the scheduler has none"
                )
        futures = {}
        for i, task in enumerate(todo):
            key = f"{task.label}-{uuid.uuid4().hex[:8]}"
            # explicit priorities keep the caller's order (Dask would otherwise order the independent
            # tasks of one batch by itself, which ran every seed of one configuration before another's)
            fut = client.submit(
                run_with_threads, task, threads, owner, key=key, pure=False, resources=resources, priority=len(todo) - i
            )
            futures[fut] = task
        try:
            for fut in distributed.as_completed(list(futures)):
                task = futures.pop(fut)
                try:
                    record(fut.result())
                except Exception as exc:  # KilledWorker after too many deaths, lost connection...
                    record(TaskOutcome(task.label, describe_failure(exc)))
                # forget the finished task: a result still held would be recomputed (the sequence
                # tracked again) if the worker holding it died later
                fut.release()
        finally:
            # running tasks cannot be interrupted inside a worker thread: closing our own cluster
            # kills them (after a few seconds); on a remote cluster they finish and are kept
            client.cancel(list(futures), force=True)
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
