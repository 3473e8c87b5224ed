#!/usr/bin/env bash
# What the machine needs before the virtualenv can exist: Python's venv module (Debian ships it apart).
# Everything else (docker.io, mmdebstrap) is installed by the lab tool when it is missing.
set -euo pipefail
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
    echo "bootstrap: $python not found: install Python 3.10 or newer" >&2
    exit 1
fi
if "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
else
    echo "bootstrap: Python's venv module is missing: install python3-venv (Debian/Ubuntu) and run this again" >&2
    exit 1
fi
