"""make_s3_client in a shared_clients() block: one client per S3 settings, per thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from backupctl.stores.s3client import make_s3_client, shared_clients


def test_outside_a_block_every_call_builds_a_new_client() -> None:
    assert make_s3_client("http://127.0.0.1:9") is not make_s3_client("http://127.0.0.1:9")


def test_a_block_hands_out_one_client_per_settings_and_forgets_them_after() -> None:
    with shared_clients():
        a = make_s3_client("http://127.0.0.1:9", region="eu-west-1")
        assert make_s3_client("http://127.0.0.1:9", region="eu-west-1") is a
        assert make_s3_client("http://127.0.0.1:9", region="us-east-1") is not a
        with shared_clients():  # nested: the outer block's clients
            assert make_s3_client("http://127.0.0.1:9", region="eu-west-1") is a
        assert make_s3_client("http://127.0.0.1:9", region="eu-west-1") is a
    assert make_s3_client("http://127.0.0.1:9", region="eu-west-1") is not a


def test_two_threads_in_blocks_never_share_a_client() -> None:
    got: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def job(name: str) -> None:
        with shared_clients():
            got[name] = make_s3_client("http://127.0.0.1:9")
            barrier.wait(timeout=10)  # both blocks open at once
            assert make_s3_client("http://127.0.0.1:9") is got[name]

    threads = [threading.Thread(target=job, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert set(got) == {"a", "b"} and got["a"] is not got["b"]


def test_credentials_in_the_endpoint_are_part_of_the_settings() -> None:
    with shared_clients():
        a = make_s3_client("http://k1:s1@127.0.0.1:9")
        b = make_s3_client("http://k2:s2@127.0.0.1:9")
        assert a is not b
        assert a.meta.endpoint_url == b.meta.endpoint_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-23T02:00:00.000Z",
        "2026-11-23T02:00:00Z",
        "2026-03-29T01:59:59.123456Z",
        "Mon, 23 Nov 2026 02:00:00 GMT",
        "1795406400",
        "2026-11-23T02:00:00+01:00",
        "not a time at allZ T",
    ],
)
def test_timestamps_parse_as_botocore_parses_them(value: str) -> None:
    from botocore.utils import parse_timestamp as botocore_parse

    from backupctl.stores.s3client import parse_timestamp

    try:
        expected = botocore_parse(value)
    except ValueError:
        with pytest.raises(ValueError):
            parse_timestamp(value)
        return
    got = parse_timestamp(value)
    assert got == expected and got.utcoffset() == expected.utcoffset()


def test_the_client_uses_the_fast_timestamp_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing's LastModified goes through parse_timestamp, not dateutil."""
    from botocore.parsers import RestXMLParser

    import backupctl.stores.s3client as s3client

    seen: list[str] = []
    real = s3client.parse_timestamp
    monkeypatch.setattr(s3client, "parse_timestamp", lambda v: seen.append(v) or real(v))
    client = make_s3_client("http://127.0.0.1:9")
    parser = client._endpoint._response_parser_factory.create_parser("rest-xml")
    assert isinstance(parser, RestXMLParser)
    assert parser._timestamp_parser("2026-11-23T02:00:00.000Z").year == 2026
    assert seen == ["2026-11-23T02:00:00.000Z"]


def test_a_fleet_block_shares_one_session_per_profile_and_builds_clients_safely() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from backupctl.stores import s3client

    assert s3client._session(None)[0] is not s3client._session(None)[0]  # outside: new each
    with s3client.shared_sessions():
        a, shared = s3client._session(None)
        assert shared and s3client._session(None)[0] is a
        assert s3client._session("other")[0] is not a  # a profile has its own credentials
        with ThreadPoolExecutor(8) as pool:  # clients built at once from the shared session
            clients = list(
                pool.map(lambda i: make_s3_client(f"http://127.0.0.1:{9000 + i}"), range(16))
            )
        assert len({id(c) for c in clients}) == 16  # still one client per store
        assert {c.meta.endpoint_url for c in clients} == {
            f"http://127.0.0.1:{9000 + i}" for i in range(16)
        }
    assert s3client._sessions is None


def test_a_backup_writes_with_the_client_its_audit_log_uses(tmp_path: Path) -> None:
    """One client per command: the writer of the default --jobs asks for no pool of its own
    (a second client costs ~0.1 s of a backup's start-up); more jobs than the pool holds get
    a client with room for them."""
    from backupctl.commands.backup import open_writer
    from backupctl.config import load_config
    from backupctl.stores.s3client import POOL_CONNECTIONS

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[store]\nurl = "s3://bkt/p"\nendpoint_url = "http://127.0.0.1:9"\n'
        '[[policy]]\nname = "app"\nkeep_last = 1\n'
    )
    config = load_config(str(cfg))
    with shared_clients():
        store_client = make_s3_client("http://127.0.0.1:9")  # what the audit log's blobs get
        writer = open_writer(config)
        try:
            assert writer.client is store_client
        finally:
            writer.close()
        big = open_writer(config, jobs=POOL_CONNECTIONS)
        try:
            assert big.client is not store_client
            assert big.client.meta.config.max_pool_connections == 2 * POOL_CONNECTIONS
        finally:
            big.close()
