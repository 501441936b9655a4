"""LocalAws lifecycle and the extension layer."""

import json
import urllib.request

import pytest

from localaws.clients import client
from localaws.server import LocalAws, LocalAwsError, health


class Echo:
    """A stand-in extension: claims requests to /echo."""

    def matches(self, environ):
        return environ.get("PATH_INFO") == "/echo"

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"echo": True}).encode()]


def test_start_stop_on_a_free_port():
    aws = LocalAws(extensions=[Echo()]).start()
    try:
        assert aws.endpoint_url.startswith("http://127.0.0.1:") and aws.port > 0
        assert health(aws.endpoint_url)["ready"] is True
        assert client("sts", aws.endpoint_url).get_caller_identity()["Account"] == "123456789012"
        with urllib.request.urlopen(f"{aws.endpoint_url}/echo", timeout=5) as resp:
            assert json.loads(resp.read()) == {"echo": True}
    finally:
        aws.stop()
    assert health(f"http://127.0.0.1:{aws.requested_port or 1}") is None


def test_port_already_taken_is_a_clear_error(local_aws):
    with pytest.raises(LocalAwsError, match=f"port {local_aws.port} .* already in use"):
        LocalAws(port=local_aws.port).start()


def test_patches_applied_once():
    from localaws.patches import apply_all

    first = apply_all()
    assert apply_all() == first
    assert "bucket_policy_resource" in first and "key_tags_from_template" in first
