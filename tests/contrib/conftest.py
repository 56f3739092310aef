"""Fixtures for the Dask tests: one LocalCluster per test module.

A LocalCluster(processes=True) keeps its worker processes (multiprocessing children,
named "Dask Worker process (from Nanny)") alive across the module's tests, and its nannies
start fresh ones when a test kills a worker. The root ``no_leaks`` fixture counts every
multiprocessing child as a leak, so this directory overrides it with the same checks minus
those Dask workers; the module fixture closes the cluster, so they do not outlive it.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import check_leaks

DASK_WORKER = "Dask Worker process"


def _foreign_children() -> list[Any]:
    return [c for c in multiprocessing.active_children() if not c.name.startswith(DASK_WORKER)]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """The root leak check, except for the module's own Dask worker processes."""
    yield from check_leaks(request, children=_foreign_children)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A client on a 2-worker, 1-thread-per-worker process cluster, closed after the module.

    ``allowed-failures=1``: a task that kills its worker is re-run once on the other
    worker, then fails with KilledWorker (the default, 3, would cost four worker restarts).
    """
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
            silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
    assert not [c for c in multiprocessing.active_children()
                if c.name.startswith(DASK_WORKER)], "the Dask cluster left worker processes"
