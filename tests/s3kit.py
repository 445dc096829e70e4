"""A local S3 for the store's object-storage tests: moto's server on loopback, in its own process.

Never in-process (moto's ``ThreadedMotoServer``): deltalake holds the GIL while it waits on S3, so a
server thread in the same interpreter cannot answer and every call hangs until it times out.

The `environment` is what deltalake (and boto3, and the readers in the README) read: the endpoint,
keys, region and ``AWS_ALLOW_HTTP`` for a plain-HTTP endpoint. `SECRET` is distinctive so that a test
can look for it anywhere it must not be.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

SECRET = "finlab-s3-secret-7Hq2Lw9Xv"
KEY_ID = "finlabtestkey"
REGION = "us-east-1"
STARTUP = 30.0


@dataclass
class LocalS3:
    """A running moto server: its endpoint, and the buckets made so far."""

    endpoint: str
    made: int = 0

    def environment(self, secret: str = SECRET) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def bucket(self) -> str:
        """A new empty bucket's name."""
        self.made += 1
        name = f"finlab-{self.made}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``: key -> content."""
        s3 = self.client()
        found = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):  # type: ignore[attr-defined]
            for item in page.get("Contents", []):
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()  # type: ignore[attr-defined]
        return found

    def keys(self, bucket: str, suffix: str) -> int:
        """How many object keys in ``bucket`` end with ``suffix`` (e.g. Delta commits: ``.json``)."""
        s3 = self.client()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)  # type: ignore[attr-defined]
        return sum(1 for page in pages for item in page.get("Contents", []) if item["Key"].endswith(suffix))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_s3() -> Iterator[LocalS3]:
    """Start moto's server on a free loopback port; stop it (by its pid) when done."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            assert server.poll() is None, "moto's server exited at start"
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.1)
        yield LocalS3(endpoint)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
