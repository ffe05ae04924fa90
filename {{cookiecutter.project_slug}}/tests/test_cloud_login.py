"""How workflows reach deploy.target's cloud: the OIDC login's inputs from mlops.yaml, which jobs may
ask for a token (workflows.id_token), and the bento's image for the target's registry."""

import pytest

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


@pytest.mark.parametrize(("target", "token"), [("local", "none"), ("aws", "write"), ("gcp", "write")])
def test_only_cloud_targets_grant_jobs_an_oidc_token(target, token):
    assert derived({"deploy": {"target": target}}) == {"workflows": {"id_token": token}}
    assert derived({"project": {}}) == {}  # the bake's hook passes partial answers


class Ran:
    def __init__(self, fail: str | None = None):
        self.commands, self.fail = [], fail

    def __call__(self, command):
        self.commands.append(command)
        return type("Done", (), {"returncode": 1 if command[0] == self.fail else 0})()


def test_the_image_is_built_for_the_registry_then_pushed():
    release, uri = Release("model:abc123", "3"), "registry.example/model:abc123"
    ran = Ran()
    build_and_push(release, uri, push=True, run=ran)
    assert ran.commands == [
        ["bentoml", "containerize", "model:abc123", "--image-tag", uri],
        ["docker", "push", uri],
    ]
    with pytest.raises(TargetError, match="`docker push registry.example/model:abc123` failed"):
        build_and_push(release, uri, push=True, run=Ran(fail="docker"))
