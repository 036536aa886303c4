"""make_s3_client in a shared_clients() block: one client per S3 settings, per thread."""

from __future__ import annotations

import threading

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
