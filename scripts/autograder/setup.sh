#!/usr/bin/env bash
# Gradescope runs this once, as root, as it builds the autograder's image (Ubuntu 22.04 or
# later: Python 3.10+): the project in a venv of its own, with CPU-only torch (the image has
# no GPU, and the CUDA wheels are gigabytes). Editable, so that the one copy of the
# solutions is the one run_autograder makes unreadable.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
apt-get update -qq
apt-get install -y -qq python3 python3-venv
python3 -m venv "$root/venv"
"$root/venv/bin/pip" install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu
"$root/venv/bin/pip" install -q -e "$root/source[torch]"
