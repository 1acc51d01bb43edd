"""Key sources, host allowlist, key file, CA bundle, error mapping, event text: no network."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from nodes.fal.config import (
    Credentials,
    FalConfig,
    Hosts,
    ca_bundle_from_env,
    find_credentials,
    load_credentials,
)
from nodes.fal.errors import (
    AuthError,
    ContentModerated,
    FalServerError,
    FalUnreachable,
    InputRejected,
    MissingKeyError,
    NoCreditError,
    UnsafeUrl,
    error_from_response,
)
from nodes.fal.events import FalEvent
from nodes.fal.http import FalKeyAuth, key_may_go_to, redacted_headers, require_key_origin
from nodes.fal.keyfile import delete_key_file, read_key_file, write_key_file
from tests.fal.support import TEST_KEY


def test_fal_key_wins_over_id_and_secret_and_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    write_key_file(key_file, "from-file")
    env = {"FAL_KEY": "from-env", "FAL_KEY_ID": "id", "FAL_KEY_SECRET": "secret"}
    assert find_credentials(key_file, env) == Credentials("from-env", "env")
    assert find_credentials(key_file, {"FAL_KEY_ID": "id", "FAL_KEY_SECRET": "secret"}).key == "id:secret"
    assert find_credentials(key_file, {"FAL_KEY_ID": "id"}) == Credentials("from-file", "file")
    assert find_credentials(None, {}) is None


def test_missing_key_message_lists_the_three_ways(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError) as caught:
        load_credentials(tmp_path / "absent", {})
    text = str(caught.value)
    assert "FAL_KEY environment variable" in text
    assert "FAL_KEY_ID and FAL_KEY_SECRET" in text
    assert "settings" in text and str(tmp_path / "absent") in text


def test_credentials_never_show_the_key() -> None:
    creds = Credentials(TEST_KEY, "env")
    config = FalConfig(credentials=creds)
    for text in (repr(creds), str(creds), repr(config), str(config), repr(FalKeyAuth(creds, Hosts()))):
        assert TEST_KEY not in text and "fal-test-secret" not in text


@pytest.mark.parametrize(
    "url,allowed",
    [
        ("https://queue.fal.run/x", True),
        ("https://rest.fal.ai/storage", True),
        ("https://v3.fal.media/files/a", True),
        ("https://queue.falrun.com/x", True),
        ("https://falrun.com/x", True),
        ("https://fal.run/x", True),
        ("https://QUEUE.Fal.Run./x", True),
        ("https://queue.fal.run:443/x", True),
        # plain http, or another port, on a fal host: never the key, whatever an answer says
        ("http://queue.fal.run/x", False),
        ("http://v3.fal.media/files/a", False),
        ("https://queue.fal.run:8443/x", False),
        ("https://evil-fal.ai/x", False),
        ("https://fal.ai.evil.com/x", False),
        ("https://evil.com\\@queue.fal.run.evil.com/x", False),
        ("https://storage.googleapis.com/signed", False),
        ("http://127.0.0.1:8765/x", False),
        ("https://example.com/x", False),
        ("ftp://queue.fal.run/x", False),
        ("queue.fal.run/x", False),
        ("https://queue.fal.run:notaport/x", False),
    ],
)
def test_key_goes_only_to_fal_origins(url: str, allowed: bool) -> None:
    assert Hosts().may_receive_key(url) is allowed


@pytest.mark.parametrize(
    "url,allowed",
    [
        ("http://127.0.0.1:9999/luma/agent/requests/1/status", True),
        ("http://127.0.0.1:9999", True),
        ("HTTP://127.0.0.1:9999/x", True),
        ("http://127.0.0.1:9998/x", False),  # another port of the same host: another origin
        ("http://127.0.0.1/x", False),
        ("https://127.0.0.1:9999/x", False),  # another scheme
        ("http://localhost:9999/x", False),  # another host name for the same machine
        ("http://127.0.0.2:9999/x", False),
        ("https://queue.fal.run/x", True),  # fal's own hosts stay allowed over https
        ("http://queue.fal.run/x", False),
    ],
)
def test_with_a_base_url_the_key_goes_to_its_exact_origin(url: str, allowed: bool) -> None:
    hosts = FalConfig.from_env(env={"LUMA_FAL_BASE_URL": "http://127.0.0.1:9999/"}).hosts
    assert hosts.may_receive_key(url) is allowed
    assert key_may_go_to(url, hosts) is allowed


def test_base_url_points_everything_at_one_server() -> None:
    hosts = FalConfig.from_env(env={"LUMA_FAL_BASE_URL": "http://127.0.0.1:9999/"}).hosts
    assert hosts.queue == hosts.rest == hosts.cdn == "http://127.0.0.1:9999"
    assert hosts.key_origins == {"http://127.0.0.1:9999"}
    assert Hosts.from_base_url("https://relay.example.com").key_origins == {"https://relay.example.com:443"}
    for bad in ("ftp://x", "http://queue.fal.run", "http://rest.fal.ai:80", "http://127.0.0.1:99999"):
        with pytest.raises(ValueError, match="LUMA_FAL_BASE_URL"):
            FalConfig.from_env(env={"LUMA_FAL_BASE_URL": bad})


def test_refusal_names_the_origin_never_the_key_or_the_token() -> None:
    hosts = FalConfig.from_env(env={"LUMA_FAL_BASE_URL": "http://127.0.0.1:9999"}).hosts
    url = "http://user:pw@127.0.0.1:7777/luma/agent/requests/r-9/status?token=sekrit"
    with pytest.raises(UnsafeUrl) as caught:
        require_key_origin(url, hosts, what="status URL", request_id="r-9")
    text = str(caught.value)
    assert "http://127.0.0.1:7777" in text and "r-9" in text and "status URL" in text
    assert "sekrit" not in text and "pw" not in text and TEST_KEY not in text
    assert require_key_origin("http://127.0.0.1:9999/a", hosts, what="x") == "http://127.0.0.1:9999/a"


def test_auth_header_attached_by_host() -> None:
    auth = FalKeyAuth(Credentials(TEST_KEY, "env"), Hosts())
    fal = next(auth.auth_flow(httpx.Request("GET", "https://queue.fal.run/x")))
    other = next(auth.auth_flow(httpx.Request("GET", "https://storage.googleapis.com/signed")))
    clear = next(auth.auth_flow(httpx.Request("GET", "http://queue.fal.run/x")))
    assert fal.headers["Authorization"] == f"Key {TEST_KEY}"
    assert "Authorization" not in other.headers and "Authorization" not in clear.headers
    assert redacted_headers(fal.headers)["authorization"] == "<redacted>"


def test_key_file_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fal.key"
    write_key_file(path, "  my-key  ")
    assert read_key_file(path) == "my-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["fal.key"]  # no temp file left behind
    assert delete_key_file(path) and read_key_file(path) is None and not delete_key_file(path)
    with pytest.raises(ValueError):
        write_key_file(path, "two\nlines")


def test_ca_bundle_order(tmp_path: Path) -> None:
    ours, system = tmp_path / "ours.pem", tmp_path / "sys.pem"
    ours.write_text("x")
    system.write_text("y")
    assert ca_bundle_from_env({"LUMA_FAL_CA_BUNDLE": str(ours), "SSL_CERT_FILE": str(system)}) == str(ours)
    assert ca_bundle_from_env({"REQUESTS_CA_BUNDLE": str(system)}) == str(system)
    assert ca_bundle_from_env({}) is None
    with pytest.raises(ValueError, match="LUMA_FAL_CA_BUNDLE"):
        ca_bundle_from_env({"LUMA_FAL_CA_BUNDLE": str(tmp_path / "missing.pem")})


def test_error_mapping() -> None:
    rid = {"x-fal-request-id": "r-1"}
    locked = error_from_response(
        403, {}, {"detail": "User is locked. Reason: Exhausted balance."}, action="x"
    )
    assert isinstance(locked, NoCreditError)
    assert isinstance(error_from_response(401, {}, {"detail": "No user found"}, action="x"), AuthError)
    rejected = error_from_response(
        422,
        rid,
        {
            "detail": [
                {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"},
                {"loc": ["body", "image_url"], "msg": "bad url", "type": "url"},
            ]
        },
        action="x",
    )
    assert isinstance(rejected, InputRejected) and not isinstance(rejected, ContentModerated)
    assert "prompt: Field required" in str(rejected) and "image_url: bad url" in str(rejected)
    assert rejected.request_id == "r-1"
    flagged = error_from_response(
        422,
        rid,
        {"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]},
        action="x",
    )
    assert isinstance(flagged, ContentModerated)
    typed = error_from_response(
        400, {"X-Fal-Error-Type": "content_policy_violation"}, {"detail": "no"}, action="x"
    )
    assert isinstance(typed, ContentModerated) and typed.error_type == "content_policy_violation"
    server = error_from_response(
        503,
        rid,
        {"detail": "Runner disconnected", "error_type": "runner_disconnected"},
        action="reading the result",
    )
    assert (
        isinstance(server, FalServerError) and "r-1" in str(server) and "runner_disconnected" in str(server)
    )
    assert isinstance(error_from_response(502, {}, "<html>nginx</html>", action="x"), FalUnreachable)


@pytest.mark.parametrize(
    "event,text",
    [
        (FalEvent("in_queue", queue_position=3, elapsed_in_queue=4.2), "In queue, position 3 · 4 s"),
        (FalEvent("running", elapsed_running=12.9, last_log="step 2/4"), "Running · 12 s · step 2/4"),
        (FalEvent("running", elapsed_running=75, fraction=0.5), "Running 50% · 1 min 15 s"),
        (FalEvent("uploading", uploads_done=1, uploads_total=3), "Uploading 1/3"),
        (FalEvent("downloading", bytes_done=3 * 2**20, bytes_total=12 * 2**20), "Downloading 3.0 of 12.0 MB"),
        (FalEvent("waiting_for_slot"), "Waiting for a free slot (other fal requests are running)"),
    ],
)
def test_event_text(event: FalEvent, text: str) -> None:
    assert event.text() == text
