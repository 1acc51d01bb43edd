"""Session fixture: one throwaway PostgreSQL cluster (tools.pgcluster) for the journal and fleet tests.

``pg_cluster`` (session): initdb + pg_ctl under ``.testhost/pg/tests-<output folder>`` on a free loopback
port, stopped (and its folder removed) at the end of the session. Each pytest process of a parallel run has
its own output folder (tests/support/parallel.py), so its own cluster: one shared folder let one process's
set-up or teardown stop the server another was using. ``pg_url`` (function): a fresh empty database's URL.
Import them into a folder's conftest.py or test module (``from tests.support.postgres import pg_cluster``).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tools.layout import TEST_OUTPUT
from tools.pgcluster import PgCluster

_numbers = itertools.count(1)


def cluster_name() -> str:
    """The cluster of this pytest process: named after its output folder (``LUMA_TEST_OUTPUT``)."""
    return f"tests-{TEST_OUTPUT.name}"


@contextmanager
def throwaway_cluster() -> Iterator[PgCluster]:
    """This process's cluster, started; stopped and removed on leaving."""
    cluster = PgCluster.create(cluster_name())
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.new_database(f"journal_{next(_numbers)}")
