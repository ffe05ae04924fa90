"""The bento as a container image in the cloud target's registry (CD's deploy job, on a GitHub runner
with Docker and the clouds' CLIs, after .github/actions/cloud-login): log Docker in to the registry
with the job's cloud credentials, `bentoml containerize`, then `docker push`. The local target
serves bentos straight from the BentoML store and needs no image."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from .target import Release, Target, TargetError


def image_uri(target: Target, release: Release) -> str | None:
    """Where `target` pulls `release` from; None for a target that needs no image."""
    image = getattr(target, "image", None)
    return image(release) if image else None


def _check(done, command: list[str]):
    if done.returncode != 0:  # the tool printed why
        raise TargetError(f"`{' '.join(command)}` failed (exit code {done.returncode}, its output above)")
    return done


def log_in(uri: str, run: Callable = subprocess.run) -> None:
    """Docker credentials for the registry of `uri`, from the cloud login of the job (no stored keys;
    passwords go through stdin, never argv). Another registry: log in before (docker login)."""
    host = uri.split("/", 1)[0]
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):  # <account>.dkr.ecr.<region>.amazonaws.com[.cn]
        command = ["aws", "ecr", "get-login-password", "--region", host.split(".")[3]]
        password = _check(run(command, capture_output=True, text=True), command).stdout
        command = ["docker", "login", "--username", "AWS", "--password-stdin", host]
        _check(run(command, input=password, text=True), command)
    elif host.endswith("-docker.pkg.dev"):  # Artifact Registry: gcloud's credential helper
        command = ["gcloud", "auth", "configure-docker", host, "--quiet"]
        _check(run(command), command)
    elif host.endswith(".azurecr.io"):
        command = ["az", "acr", "login", "--name", host.removesuffix(".azurecr.io")]
        _check(run(command), command)
    elif host == "ghcr.io":  # GitHub's registry: the job's token (packages: write)
        if not (token := os.environ.get("GITHUB_TOKEN")):
            raise TargetError(f"pushing to {host} needs GITHUB_TOKEN (a token with packages: write)")
        command = ["docker", "login", host, "--username", "x-access-token", "--password-stdin"]
        _check(run(command, input=token, text=True), command)


def build_and_push(release: Release, uri: str, push: bool, run: Callable = subprocess.run) -> None:
    """Build `release`'s image tagged `uri`; with `push`, log in to its registry and push it."""
    command = ["bentoml", "containerize", release.bento, "--image-tag", uri]
    _check(run(command), command)
    if push:
        log_in(uri, run)
        command = ["docker", "push", uri]
        _check(run(command), command)
