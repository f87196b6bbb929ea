"""Preflight of KServe's S3 credentials: which annotations are KServe's, near misses, where keys may be."""

import pytest

from mlcd.reconcile import preflight
from tests.unit.test_rollout import secret, service_account

WHERE = "spec.serving.serviceAccountName: Secret 's3creds'"


def problems_of(annotations: dict, **data) -> list[str]:
    return preflight(service_account("s3creds"), [secret(annotations=annotations, **data)])


@pytest.mark.parametrize(("key", "suggested"), [
    ("s3-endpoint", "serving.kserve.io/s3-endpoint"),  # no domain at all
    ("s3_endpoint", "serving.kserve.io/s3-endpoint"),
    ("kfserving.kubeflow.org/s3-usehttp", "serving.kserve.io/s3-usehttps"),  # an old domain and a slip
    ("serving.kserve.io/s3-cabundl", "serving.kserve.io/s3-cabundle"),
])
def test_a_near_miss_names_the_annotation_kserve_reads(key, suggested):
    assert problems_of({key: "x"}) == [f"{WHERE}: annotation {key!r} is not one KServe reads, so it would be "
                                       f"silently ignored; did you mean {suggested!r}?"]


@pytest.mark.parametrize("key", ["example.com/s3-regions", "serving.knative.dev/s3-endpoints",
                                 "serving.kserve.io/deploymentMode", "serving.kserve.io/s3-bucket"])
def test_annotations_of_other_tools_or_far_from_any_s3_setting_are_left_alone(key):
    assert problems_of({key: "x"}) == []


def test_credentials_may_be_given_as_string_data():
    given = {"metadata": {"name": "s3creds"}, "stringData": {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}}
    assert preflight(service_account("s3creds"), [given]) == []
    only_key = {"metadata": {"name": "s3creds"}, "stringData": {"AWS_ACCESS_KEY_ID": "k"}}
    assert preflight(service_account("s3creds"), [only_key]) == [
        f"{WHERE}: data key AWS_SECRET_ACCESS_KEY is missing (KServe's default name; awsSecretAccessKey with "
        "KServe's built-in configuration)"]


def test_kserves_builtin_key_names_count_too():
    assert problems_of({}, awsAccessKeyID="aw==", awsSecretAccessKey="cw==") == []


def test_a_secret_with_only_a_misspelt_s3_annotation_is_an_s3_secret_missing_its_keys():
    problems = problems_of({"serving.kserve.io/s3_endpoint": "minio:9000"}, token="eA==")
    assert problems == [
        f"{WHERE}: annotation 'serving.kserve.io/s3_endpoint' is not one KServe reads, so it would be silently "
        "ignored; did you mean 'serving.kserve.io/s3-endpoint'?",
        f"{WHERE}: data key AWS_ACCESS_KEY_ID is missing (KServe's default name; awsAccessKeyID with KServe's "
        "built-in configuration)",
        f"{WHERE}: data key AWS_SECRET_ACCESS_KEY is missing (KServe's default name; awsSecretAccessKey with "
        "KServe's built-in configuration)"]


def test_a_secret_with_unrelated_annotations_holds_no_s3_credentials():
    pull = secret("pull", annotations={"team": "ml"}, **{".dockerconfigjson": "e30="})
    assert preflight(service_account("pull"), [pull]) == [
        "spec.serving.serviceAccountName: none of the Secrets of ServiceAccount 'mlcd-models' holds S3 credentials "
        "(data keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"]


@pytest.mark.parametrize(("value", "needs_keys"), [("True", False), ("true", False), ("false", True)])
def test_anonymous_access_needs_no_keys(value, needs_keys):
    problems = problems_of({"serving.kserve.io/s3-useanoncredential": value}, other="eA==")
    assert bool(problems) is needs_keys


def test_a_missing_service_account_and_one_without_secrets_are_named():
    assert preflight(None, [], name="mlcd-models") == [
        "spec.serving.serviceAccountName: ServiceAccount 'mlcd-models' does not exist in the namespace"]
    assert preflight(service_account(), []) == [
        "spec.serving.serviceAccountName: ServiceAccount 'mlcd-models' lists no secrets; KServe reads S3 credentials "
        "only from the Secrets under its `secrets:` (or from an IAM role, annotation eks.amazonaws.com/role-arn)"]
