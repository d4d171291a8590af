#!/usr/bin/env bash
# Gradescope runs this once, as root, as it builds the autograder's image (its Ubuntu base
# image, 22.04 or later: Python 3.10+). It installs what grading needs and nothing more: the
# system's Python (/usr/bin/python3, which every user may run, unlike a Python under /root),
# a venv in $root/venv that the answers' user (nobody) can read, the project with NumPy, and
# the CPU build of torch the project was tested with (the image has no GPU, and the CUDA
# wheels are gigabytes). Not torchvision, not SciPy: grading never imports them. A download
# that fails is tried twice more, then setup stops and says why.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
torch_version=2.14.1
apt-get -o Acquire::Retries=2 update -qq
apt-get -o Acquire::Retries=2 install -y -qq --no-install-recommends python3 python3-venv
/usr/bin/python3 -m venv "$root/venv"
pip=("$root/venv/bin/pip" install -q --retries 2 --timeout 60)
"${pip[@]}" "torch==$torch_version" --index-url https://download.pytorch.org/whl/cpu
"${pip[@]}" -e "$root/source"  # numpy, tqdm, threadpoolctl: the project's own needs
chmod -R a+rX "$root/venv"
