"""The bento as a container image in the cloud target's registry (CD's deploy job, on a GitHub runner
with Docker, logged in by .github/actions/cloud-login): `bentoml containerize`, then `docker push`.
The local target serves bentos straight from the BentoML store and needs no image."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from .target import Release, Target, TargetError


def image_uri(target: Target, release: Release) -> str | None:
    """Where `target` pulls `release` from; None for a target that needs no image."""
    image = getattr(target, "image", None)
    return image(release) if image else None


def build_and_push(release: Release, uri: str, push: bool, run: Callable = subprocess.run) -> list[list[str]]:
    """Build `release`'s image tagged `uri` (and push it); the commands run, in order."""
    commands = [["bentoml", "containerize", release.bento, "--image-tag", uri]]
    if push:
        commands.append(["docker", "push", uri])
    for command in commands:
        if run(command).returncode != 0:  # the tool printed why
            raise TargetError(f"`{' '.join(command)}` failed (exit code above)")
    return commands
