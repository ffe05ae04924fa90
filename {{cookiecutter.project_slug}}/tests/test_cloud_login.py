"""How workflows reach deploy.target's cloud: the OIDC login's inputs from mlops.yaml, which jobs may
ask for a token (workflows.id_token), and the bento's image for the target's registry."""

import json

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.ops.cli import app
from {{ cookiecutter.package_name }}.ops.config import Config
from {{ cookiecutter.package_name }}.ops.deploy.image import build_and_push
from {{ cookiecutter.package_name }}.ops.deploy.login import login_outputs
from {{ cookiecutter.package_name }}.ops.deploy.target import Release, TargetError
from {{ cookiecutter.package_name }}.ops.sync import OIDC_TARGETS, derived


def test_a_cloud_target_logs_in_with_the_ids_of_its_block(config):
    outputs, notice = login_outputs(config, fork=False, act=False)
    assert outputs["ready"] == "true" and notice is None
    if config.deploy.target in OIDC_TARGETS:
        assert outputs["login"] == outputs["cloud"] == config.deploy.target
        assert all(outputs.values()), outputs  # every id the login action needs is set
    else:
        assert outputs == {"cloud": "none", "login": "none", "ready": "true"}


def test_a_forks_pull_request_skips_the_cloud_and_act_uses_the_environment(config):
    forked, why = login_outputs(config, fork=True, act=False)
    acted, under_act = login_outputs(config, fork=False, act=True)
    assert forked["login"] == acted["login"] == "none"
    if config.deploy.target in OIDC_TARGETS:
        assert forked["ready"] == "false" and "fork gets no OIDC token" in why
        assert acted["ready"] == "true" and "credentials come from the environment" in under_act
    else:  # nothing to log in to: nothing to skip
        assert forked["ready"] == acted["ready"] == "true" and why is None


@pytest.mark.parametrize(
    ("head", "fork"),
    [("acme/model", False), ("someone/model", True), (None, False)],  # None: not a pull request
)
def test_config_login_tells_a_forks_pull_request_by_its_head_repository(raw_config, tmp_path, monkeypatch, head, fork):
    import yaml

    cluster = {"cloud": "aws", **CLUSTERS["aws"][0]}
    raw_config["deploy"].update(target="kubernetes", kubernetes={**KUBERNETES, "cluster": cluster})
    (tmp_path / "mlops.yaml").write_text(yaml.safe_dump(raw_config))
    # `repo.fork` is true for every PR of a repository that is itself a fork: not the test.
    repos = {"base": {"repo": {"full_name": "acme/model", "fork": True}}}
    event = {"pull_request": {**repos, "head": {"repo": {"full_name": head, "fork": True}}}} if head else {}
    (tmp_path / "event.json").write_text(json.dumps(event))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(tmp_path / "event.json"))
    monkeypatch.delenv("ACT", raising=False)
    result = CliRunner().invoke(app, ["config", "login", "--config", str(tmp_path / "mlops.yaml")])
    assert result.exit_code == 0, result.output
    assert f"ready={'false' if fork else 'true'}" in result.stdout
    assert ("fork gets no OIDC token" in result.stdout) is fork


@pytest.mark.parametrize(("target", "token"), [("local", "none"), ("aws", "write"), ("gcp", "write")])
def test_only_cloud_targets_grant_jobs_an_oidc_token(target, token):
    assert derived({"deploy": {"target": target}})["workflows"]["id_token"] == token
    assert derived({"project": {}}) == {}  # the bake's hook passes partial answers


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
GHCR_STDIN = "--password-stdin"


KUBERNETES = {"namespace": "ml", "service_name": "model", "image": "ghcr.io/acme/model", "bucket": "s3://b/dvc"}
CLUSTERS = {
    "aws": ({"name": "eks1", "region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/deploy"}, "region"),
    "gcp": (
        {
            "name": "gke1",
            "location": "europe-west4",
            "project": "my-project",
            "workload_identity_provider": "projects/1/locations/global/workloadIdentityPools/gh/providers/gh",
            "service_account": "deploy@my-project.iam.gserviceaccount.com",
        },
        "location",
    ),
    "azure": (
        {"name": "aks1", "resource_group": "rg", "subscription_id": "s", "tenant_id": "t", "client_id": "c"},
        "resource_group",
    ),
}


@pytest.mark.parametrize("cloud", list(CLUSTERS))
def test_a_kubernetes_cluster_is_reached_through_its_clouds_login(raw_config, cloud):
    fields, where = CLUSTERS[cloud]
    raw_config["deploy"].update(target="kubernetes", kubernetes={**KUBERNETES, "cluster": {"cloud": cloud, **fields}})
    config = Config.model_validate(raw_config)
    outputs, _ = login_outputs(config, fork=False, act=False)
    assert outputs["login"] == cloud and outputs["cluster"] == fields["name"]
    assert outputs[f"cluster_{where}"] == fields[where]
    assert derived(config.model_dump()) == {"workflows": {"id_token": "write", "packages": "write"}}


def test_a_kubernetes_target_without_a_cluster_asks_for_no_token(raw_config):
    raw_config["deploy"].update(target="kubernetes", kubernetes=KUBERNETES)
    config = Config.model_validate(raw_config)
    assert login_outputs(config, fork=False, act=False)[0]["login"] == "none"
    assert derived(config.model_dump()) == {"workflows": {"id_token": "none", "packages": "write"}}


class Ran:
    """Records each command; `fail` names the program that exits 1."""

    def __init__(self, fail: str | None = None):
        self.commands, self.inputs, self.fail = [], [], fail

    def __call__(self, command, **options):
        self.commands.append(command)
        self.inputs.append(options.get("input"))
        return type("Done", (), {"returncode": int(command[0] == self.fail), "stdout": "ecr-password"})()


@pytest.mark.parametrize(
    ("uri", "login"),
    [
        (f"{ECR}/model:abc", [
            ["aws", "ecr", "get-login-password", "--region", "eu-west-1"],
            ["docker", "login", "--username", "AWS", "--password-stdin", ECR],
        ]),
        ("europe-west4-docker.pkg.dev/proj/mlops/model:abc", [
            ["gcloud", "auth", "configure-docker", "europe-west4-docker.pkg.dev", "--quiet"],
        ]),
        ("myacr.azurecr.io/model:abc", [["az", "acr", "login", "--name", "myacr"]]),
        ("ghcr.io/acme/model:abc", [["docker", "login", "ghcr.io", "--username", "x-access-token", GHCR_STDIN]]),
        ("registry.example/model:abc", []),  # another registry: `docker login` beforehand
    ],
)  # fmt: skip
def test_the_image_is_built_then_docker_logs_in_with_the_cloud_login_and_pushes(uri, login, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_token")
    ran = Ran()
    build_and_push(Release("model:abc", "3"), uri, push=True, run=ran)
    built = ["bentoml", "containerize", "model:abc", "--image-tag", uri]
    assert ran.commands == [built, *login, ["docker", "push", uri]]
    if login and login[0][0] == "aws":  # the registry password goes through stdin, never argv
        assert ran.inputs[2] == "ecr-password" and "ecr-password" not in str(ran.commands)
    if uri.startswith("ghcr.io"):
        assert ran.inputs[1] == "ghs_token" and "ghs_token" not in str(ran.commands)


def test_a_failing_tool_is_one_error_naming_the_command():
    with pytest.raises(TargetError, match="`docker push registry.example/model:abc` failed"):
        build_and_push(Release("model:abc"), "registry.example/model:abc", push=True, run=Ran(fail="docker"))
    built = Ran()
    build_and_push(Release("model:abc"), "registry.example/model:abc", push=False, run=built)
    assert [command[0] for command in built.commands] == ["bentoml"]
