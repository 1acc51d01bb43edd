"""Session fixture: one throwaway PostgreSQL cluster (tools.pgcluster) for the journal and fleet tests.

``pg_cluster`` (session): initdb + pg_ctl under ``.testhost/pg/tests`` on a free loopback port, stopped
(and its folder removed) at the end of the session. ``pg_url`` (function): a fresh empty database's URL.
Import them into a folder's conftest.py or test module (``from tests.support.postgres import pg_cluster``).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator

import pytest

from tools.pgcluster import PgCluster

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster.create("tests")
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.new_database(f"journal_{next(_numbers)}")
