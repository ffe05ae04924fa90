"""What a workflow needs to log in to deploy.target's cloud through GitHub's OIDC: the ids in mlops.yaml
(the target's block, or the kubernetes target's `cluster`), under the names
.github/actions/cloud-login passes to each cloud's login action. No keys anywhere: the cloud trusts
the job's OIDC token (docs/deploy/<target>.md).

`login` says which login action runs: none for the local target (or a kubernetes one without a
cluster block: the runner has a kubeconfig), none under act (the host's own credentials, from the
environment, reach the steps), and none for a pull request from a fork (GitHub gives it no OIDC
token), which is then `ready=false` so the job skips its cloud steps.
"""

from __future__ import annotations

from ..config import AwsLogin, AzureLogin, Config, GcpLogin


def _ids(block) -> dict[str, str]:
    if isinstance(block, AwsLogin):
        return {"cloud": "aws", "role": block.role_arn, "region": block.region}
    if isinstance(block, GcpLogin):
        ids = {"provider": block.workload_identity_provider, "service_account": block.service_account}
        return {"cloud": "gcp", **ids, "project": block.project}
    if isinstance(block, AzureLogin):
        ids = {"client_id": block.client_id, "tenant_id": block.tenant_id}
        return {"cloud": "azure", **ids, "subscription_id": block.subscription_id}
    return {"cloud": "none"}


def cloud_ids(cfg: Config) -> dict[str, str]:
    """The login action's inputs for deploy.target ({"cloud": "none"} when there is nothing to log in to);
    for a kubernetes cluster also what its kubeconfig command needs."""
    block = getattr(cfg.deploy, cfg.deploy.target)
    cluster = getattr(block, "cluster", None)
    if cluster is None:
        return _ids(block)
    where = {"aws": "region", "gcp": "location", "azure": "resource_group"}[cluster.cloud]
    return {**_ids(cluster), "cluster": cluster.name, "cluster_" + where: getattr(cluster, where)}


def login_outputs(cfg: Config, *, fork: bool, act: bool) -> tuple[dict[str, str], str | None]:
    """The step outputs (ids, `login`, `ready`) and a notice to print, if any."""
    ids = cloud_ids(cfg)
    cloud = ids["cloud"]
    if cloud == "none":
        return {**ids, "login": "none", "ready": "true"}, None
    if fork:
        why = f"a pull request from a fork gets no OIDC token: the steps that need {cloud} are skipped"
        return {**ids, "login": "none", "ready": "false"}, why
    if act:
        return {**ids, "login": "none", "ready": "true"}, f"under act: {cloud} credentials come from the environment"
    return {**ids, "login": cloud, "ready": "true"}, None
