#!/usr/bin/env bash
# Build the worker image from this checkout and push it, in one command:
#
#     infra/docker/publish.sh ghcr.io/YOU/zeb-worker:1 [docker build options...]
#
# Run it from anywhere inside the repository, after `docker login` to the registry. Then pass the
# same name to a fleet: `zeb fleet up --provider vast --image ghcr.io/YOU/zeb-worker:1 ...`.
# A private image also needs ZEB_VAST_IMAGE_LOGIN='-u USER -p TOKEN ghcr.io' where the fleet runs.
set -euo pipefail

image="${1:?usage: publish.sh REGISTRY/NAME:TAG [docker build options...]}"
shift
name="${image##*/}"  # the tag is after the last slash (a registry may have a port)
if [[ "$name" != *:* || "$name" == *:latest ]]; then
    echo "publish: give an immutable tag (a version), not latest: hosts pull when they start," \
        "so a moving tag mixes code versions inside one fleet" >&2
    exit 2
fi
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
docker build -f "$root/infra/docker/Dockerfile" -t "$image" "$@" "$root"
docker push "$image"
echo "pushed $image: zeb fleet up --provider vast --image $image ..."
