"""A service moto has no backend for is refused at once with a 4xx, not a retried 500."""


import pytest

from localaws.clients import client


def test_unemulated_service_fails_fast_with_a_client_error(local_aws):
    analyzer = client("accessanalyzer", local_aws.endpoint_url)
    analyzer.meta.config.retries = {"max_attempts": 10, "mode": "adaptive"}
    with pytest.raises(analyzer.exceptions.ClientError) as err:
        analyzer.validate_policy(policyDocument="{}", policyType="IDENTITY_POLICY")
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "does not emulate the access-analyzer API" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_emulated_services_still_reach_moto(local_aws):
    assert client("sts", local_aws.endpoint_url).get_caller_identity()["Account"] == "123456789012"
    assert "Buckets" in client("s3", local_aws.endpoint_url).list_buckets()
    assert client("securityhub", local_aws.endpoint_url).get_findings()["Findings"] == []
