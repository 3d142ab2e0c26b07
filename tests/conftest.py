"""Shared fixtures: the rendered templates and the labelled CloudTrail corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.distribution import render
from detections.patterntest import Sample, load_samples
from stacks.workload import make_workload_template

CORPUS_DIR = Path(__file__).parent / "corpus"


def load_corpus() -> list[Sample]:
    """Every labelled record of tests/corpus/*.json."""
    return load_samples(CORPUS_DIR)


@pytest.fixture(scope="session")
def workload() -> dict[str, Any]:
    """The workload template as deployed: parsed from its rendered JSON."""
    return json.loads(render(make_workload_template()))


@pytest.fixture(scope="session")
def collector() -> dict[str, Any]:
    """The organization collector's template, parsed from its rendered JSON."""
    from stacks.distribution import COLLECTOR_FILE, render_all

    return json.loads(render_all()[COLLECTOR_FILE])


@pytest.fixture(scope="session")
def corpus() -> list[Sample]:
    return load_corpus()


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server process on 127.0.0.1 for the boto3 tools; stopped at the end."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Clean moto state, fake credentials, and a helper making clients for the server."""
    import boto3
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # moto does not implement CloudTrail LookupEvents (it answers 500, which botocore retries with
    # backoff): on the server, event history answers as an account's with no event in it. Registered
    # last on each such client, so that a test's Stubber, which answers first, still decides; tests of
    # what the history holds use one.
    import botocore.session
    from botocore.awsrequest import AWSResponse

    original = botocore.session.Session.create_client

    def no_history(**_: object) -> tuple[AWSResponse, dict]:
        return AWSResponse(moto_server, 200, {}, None), {"Events": []}

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        if client.meta.endpoint_url == moto_server and client.meta.service_model.service_name == "cloudtrail":
            client.meta.events.register_last("before-call.cloudtrail.LookupEvents", no_history)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)

    class Aws:
        endpoint = moto_server
        region = "us-east-1"

        def client(self, service: str, region: str = "us-east-1"):
            return boto3.client(service, region_name=region, endpoint_url=moto_server)

        def cli(self, *args: str, region: str = "us-east-1") -> list[str]:
            return [*args, "--region", region, "--endpoint-url", moto_server]

    return Aws()
