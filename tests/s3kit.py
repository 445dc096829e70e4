"""A local S3 for the store's object-storage tests: moto's server on loopback, in its own process.

Never in-process (moto's ``ThreadedMotoServer``): deltalake holds the GIL while it waits on S3, so a
server thread in the same interpreter cannot answer and every call hangs until it times out.

The server checks every request's signature as S3 does (moto's IAM access control: its first
`UNSIGNED` requests create a user and its key, every later one must be signed with that key), so a
wrong secret fails as it would on AWS. `LocalS3.environment` is what deltalake (and boto3, and the
README's readers) read: the endpoint, the key, the region and ``AWS_ALLOW_HTTP`` for plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

REGION = "us-east-1"
STARTUP = 30.0
#: Requests moto serves unsigned before it checks signatures: the three that make the key below.
UNSIGNED = 3
ALLOW_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@dataclass
class LocalS3:
    """A running moto server: its endpoint, the access key it accepts, and the buckets made so far."""

    endpoint: str
    key_id: str
    secret: str
    made: int = 0

    def environment(self, secret: str | None = None) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret if secret is None else secret,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
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
    """Start moto's server on a free loopback port with a signed-in user; stop it (by its pid) when done."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(UNSIGNED)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:  # a bare connect: an HTTP request would count as one of the unsigned ones
            assert server.poll() is None, "moto's server exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.1)
        yield LocalS3(endpoint, *_user(endpoint))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _user(endpoint: str) -> tuple[str, str]:
    """Make a user allowed everything on S3 (the `UNSIGNED` requests); return its key id and secret."""
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION
    )
    iam.create_user(UserName="finlab")
    key = iam.create_access_key(UserName="finlab")["AccessKey"]
    iam.put_user_policy(UserName="finlab", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3))
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])
