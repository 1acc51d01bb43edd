"""Issue 19: two real ComfyUI 0.3.75 workers on one PostgreSQL journal and one sandbox ("fal").

Same workflow and seed on both at once: one submit, both deliver. A budget that fits 3 runs against
2 workers x 4 seeds queued at once: exactly 3 submits. PostgreSQL restarted while a request is being
submitted: its id is not lost, nothing over-spends, a new run during the outage is refused. The owner
SIGKILLed mid-run: the other worker takes the request over and saves it, with no second submit.
Each scenario prints its submit count.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodes.journal.postgres import PostgresJournal
from tests.e2e.fleet_helpers import LEASE_S, Fleet, budget_race, same_identity_race, wait_for
from tests.e2e.pack_helpers import mp4_facts, preview_text, saved_video, submits, unique_text
from tests.support.postgres import pg_cluster  # noqa: F401  (fixture)
from tools.pgcluster import PASSWORD, PgCluster

pytestmark = pytest.mark.hosts("0.3.75")


class PgFleet(Fleet):
    def __init__(self, fal: Any, cluster: PgCluster) -> None:
        self.cluster = cluster
        super().__init__(fal, "fleet-pg", 2, journal_url=cluster.new_database("fleet"))
        self.store = PostgresJournal(self.journal_url or "")

    def stop(self) -> None:
        self.store.close()
        super().stop()


@pytest.fixture(scope="module")
def fleet(comfy_fal: Any, pg_cluster: PgCluster) -> Iterator[PgFleet]:
    with PgFleet(comfy_fal, pg_cluster) as holder:
        yield holder


def _money(host: Any, **limits: Any) -> None:
    reply = host.client.post_json("/luma_fal/money", limits)
    assert reply.status_code == 200, reply.text


def test_the_same_request_on_two_workers_is_submitted_once(fleet: PgFleet, sandbox: Any) -> None:
    a, b = fleet.hosts
    request_id, videos = same_identity_race(fleet, sandbox, "PostgreSQL, same identity")
    assert videos[0].parent != videos[1].parent  # each worker's own output folder: fetched again, not re-paid
    entry = fleet.store.get_by_request_id(request_id)
    assert entry is not None and entry.state == "done"
    # Both workers' inboxes show the one request, with the worker that owns it.
    for host in fleet.hosts:
        rows = [r for r in host.client.get_json("/luma_fal/requests", limit=200)["entries"]
                if r["request_id"] == request_id]
        assert len(rows) == 1 and rows[0]["owner"].startswith(("worker-a/", "worker-b/")), rows
    assert PASSWORD not in a.log_text() + b.log_text()
    # Result by ID on the worker that did not submit it: found in the shared journal, nothing submitted.
    by_id = {"1": {"class_type": "LumaFalRequestById",
                   "inputs": {"endpoint": "luma/agent/ray/v3.2/text-to-video", "request_id": request_id}},
             "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}}
    fetched = b.run(by_id, timeout=300)
    assert fetched.ok, fetched.describe()
    assert mp4_facts(Path(preview_text(fetched, "2")))["frames"] == 121 and len(submits(sandbox)) == 1
    # The ledger of either worker counts the fleet's request once.
    assert a.client.get_json("/luma_fal/ledger")["today"]["requests"] >= 1


def test_the_fleet_budget_admits_exactly_the_runs_that_fit(fleet: PgFleet, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.3, run_seconds=0.5)
    a, b = fleet.hosts
    warm, warm_node = fleet.prompt(unique_text("fleet budget warm-up"), seed=1)
    assert a.run(warm, timeout=300).ok
    price = fleet.store.get_by_request_id(submits(sandbox)[0]["request_id"]).price_usd  # type: ignore[union-attr]
    assert price
    midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))
    spent = fleet.store.spent_since(midnight)
    budget = round(spent + 3.5 * price, 2)  # fits 3 more runs, not 4

    def set_budget(usd: float | None) -> None:  # each worker's own setting, the same figure
        for host in fleet.hosts:
            _money(host, daily_budget_usd=usd)

    count, results = budget_race(fleet, sandbox, set_budget, budget, "fleet budget race")
    ok = sum(r.ok for r in results)
    print(f"\nbudget race (fits 3; 2 workers x 4 seeds at once): {count} submit(s), {ok} delivered, "
          f"{len(results) - ok} refused")
    assert count == 3 and ok == 3
    for refused in (r for r in results if not r.ok):
        message = refused.error["exception_message"]
        assert "budget" in message and ("Nothing was sent" in message or "nothing was sent" in message), message
    assert fleet.store.spent_since(midnight) <= budget + 1e-6


def test_postgresql_restarted_while_submitting_loses_no_id_and_refuses_new_spend(fleet: PgFleet,
                                                                                 sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.3, run_seconds=1)
    sandbox.inject({"point": "submit", "kind": "delay", "seconds": 3})
    a, b = fleet.hosts
    prompt, node_id = fleet.prompt(unique_text("fleet outage"), seed=21)
    run = a.submit(prompt)
    wait_for(lambda: submits(sandbox), 120, "the submit reaching the sandbox")
    fleet.cluster.stop("fast")  # down before fal's answer (the request id) can be written
    try:
        refused = b.run(fleet.prompt(unique_text("fleet outage other"), seed=22)[0], timeout=120)
        # fal's answer arrives while the database is down: the node says its request id is kept in memory.
        held = run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("node") == node_id
                                  and "journal database unreachable" in str(e.data.get("text")), timeout=120)
    finally:
        fleet.cluster.start()
    assert not refused.ok and "cannot be reached" in refused.error["exception_message"], refused.describe()
    assert PASSWORD not in refused.error["exception_message"]
    result = run.wait(timeout=300)
    assert result.ok, result.describe()
    request_id = submits(sandbox)[0]["request_id"]
    assert f"keeping request id {request_id} in memory, will write it when it is back" in held.data["text"]
    count = len(submits(sandbox))
    print(f"\nPostgreSQL restarted mid-submit: {count} submit(s) (the refused run sent nothing)")
    assert count == 1
    entry = wait_for(lambda: (e := fleet.store.get_by_request_id(request_id)) and e.state == "done" and e, 60,
                     "the kept state changes written")
    events = [e.state for e in fleet.store.events(entry.id) if e.state != "note"]
    assert events[:3] == ["preparing", "submitting", "queued"] and events[-1] == "done", events
    assert mp4_facts(saved_video(a, result, node_id))["frames"] == 121


def test_a_killed_owner_s_request_is_finished_by_the_other_worker(fleet: PgFleet, sandbox: Any) -> None:
    sandbox.configure(queue_seconds=0.5, run_seconds=8)
    a, b = fleet.hosts
    prompt, _ = fleet.prompt(unique_text("fleet takeover"), seed=31)
    run = a.submit(prompt)
    run.wait_for_event(lambda e: e.type == "luma_fal.status" and e.data.get("phase") == "running", timeout=120)
    a.kill()
    request_id = submits(sandbox)[0]["request_id"]
    entry = wait_for(lambda: (e := fleet.store.get_by_request_id(request_id)) and e.state == "done" and e,
                     LEASE_S + 120, "the other worker saving the request")
    count = len(submits(sandbox))
    print(f"\nowner SIGKILLed mid-run: {count} submit(s); finished by {entry.owner}")
    assert count == 1 and entry.owner.startswith("worker-b/")
    video = entry.saved_paths()[0]
    assert video.startswith(str(b.output_dir)) and mp4_facts(Path(video))["frames"] == 121
    assert f"following request {request_id}" in b.log_text()
    fleet.restart(0)
