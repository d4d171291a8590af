#!/usr/bin/env bash
# Every GPU path of the project, checked in one go on a machine with one NVIDIA GPU or an
# Apple GPU (MPS) (a few minutes), or the same checks on the CPU with --cpu (what CI runs;
# the checks that need a GPU are skipped, and say so):
#
#   bash tools/gpu_check.sh            # on the GPU torch sees (CUDA, else MPS)
#   bash tools/gpu_check.sh --mps      # on Apple's GPU: float32 only (it has no float64)
#   bash tools/gpu_check.sh --cpu      # on the CPU
#
# Uses $PYTHON, else .venv/bin/python, else python3, with this checkout first on the path.
# Ends with one PASS, FAIL or SKIP line per check; exits 1 if any check failed.
set -u -o pipefail
cd "$(dirname "$0")/.."

device=
case "${1:-}" in
    --cpu) device=cpu ;;
    --mps) device=mps ;;
    "") ;;
    *) echo "usage: bash tools/gpu_check.sh [--cpu | --mps]" >&2; exit 2 ;;
esac
if [ -n "${PYTHON:-}" ]; then
    python=$PYTHON
elif [ -x .venv/bin/python ]; then
    python=.venv/bin/python
else
    python=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "$device" ]; then  # CUDA, or MPS where that is the GPU torch can use
    device=$("$python" -c "from torch_impl.device import accelerator
print(accelerator() or 'cuda')") || device=cuda
fi
dtype=float64  # the chapter's; MPS has none
[ "$device" = mps ] && dtype=float32
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
reference=parity_tests/reference/book_ch9_seed1.log
short=(--iterations 30 --test-size 2000)  # where the full length is not the point
summary=()
failed=0
start=$SECONDS

check() {  # NAME FUNCTION: run it (its output shown), record PASS or FAIL
    local name=$1 began=$SECONDS
    shift
    echo "== $name"
    if "$@"; then
        summary+=("PASS  $name ($((SECONDS - began)) s)")
    else
        summary+=("FAIL  $name ($((SECONDS - began)) s)")
        failed=1
    fi
}

skip() {  # NAME REASON
    echo "== $1: skipped, $2"
    summary+=("SKIP  $1: $2")
}

train() {  # scripts/train.py --impl torch, quiet, on ARGS
    "$python" scripts/train.py --impl torch --quiet "$@"
}

versions() {
    if command -v nvidia-smi > /dev/null; then
        echo "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total \
            --format=csv,noheader | head -1)"
    fi
    "$python" - "$device" <<'EOF'
import os, platform, sys

import torch

from torch_impl.device import mps_usable

device = sys.argv[1]
print(f"python {platform.python_version()}, torch {torch.__version__}, "
      f"CUDA (torch built with) {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if device == "mps":
    print(f"device: {platform.machine()} {platform.mac_ver()[0]}, MPS built "
          f"{torch.backends.mps.is_built()}, available {torch.backends.mps.is_available()}, "
          f"usable (a tensor computes there) {mps_usable()}")
    sys.exit(not mps_usable())
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name()}, compute capability "
          f"{'.'.join(map(str, torch.cuda.get_device_capability()))}, "
          f"{torch.cuda.device_count()} GPU(s)")
else:
    print("device: torch sees no CUDA GPU")
print(f"TF32: float32 matmul precision {torch.get_float32_matmul_precision()!r}, "
      f"cuda.matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}, "
      f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, "
      f"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE={os.environ.get('TORCH_ALLOW_TF32_CUBLAS_OVERRIDE')}, "
      f"NVIDIA_TF32_OVERRIDE={os.environ.get('NVIDIA_TF32_OVERRIDE')}")
sys.exit(device == "cuda" and not torch.cuda.is_available())
EOF
}

pytest_marked_without_skips() {  # pytest -m cuda or -m mps: only MPS's float64 tests skip
    "$python" -m pytest -m "$device" -q -rs -p no:cacheprovider > "$tmp/pytest.log" 2>&1
    local status=$?
    tail -25 "$tmp/pytest.log"
    [ "$status" -eq 0 ] && ! grep "^SKIPPED" "$tmp/pytest.log" | grep -vq "MPS has no float64"
}

book_log() {  # the full run, float64, masks from NumPy
    train --device "$device" > "$tmp/book.log" && diff "$tmp/book.log" "$reference" &&
        echo "the book's log, exactly"
}

compare_both_dtypes() {
    "$python" scripts/compare.py --device "$device" "${short[@]}" | tail -3 &&
        "$python" scripts/compare.py --device "$device" --dtype float32 "${short[@]}" | tail -3
}

compare_float32() {
    "$python" scripts/compare.py --device "$device" --dtype float32 "${short[@]}" | tail -3
}

float32_torch_masks() {  # the full run: its final accuracy near the book's
    train --device "$device" --dtype float32 --rng torch > "$tmp/f32.log" || return 1
    tail -1 "$tmp/f32.log"
    "$python" - "$tmp/f32.log" "$reference" <<'EOF'
import sys

final = [float(open(p).read().split()[-2].split(":")[1]) for p in sys.argv[1:]]
print(f"final test accuracy {final[0]}, the book's {final[1]}: within 0.015? "
      f"{abs(final[0] - final[1]) <= 0.015}")
sys.exit(abs(final[0] - final[1]) > 0.015)
EOF
}

save_resume_evaluate() {  # 30 iterations, or 15 and a resume: the same log and weights
    local flags=(--device "$device" --dtype "$dtype" --rng torch --log-every 5 "${short[@]}")
    train "${flags[@]}" --save "$tmp/whole.npz" > "$tmp/whole.log" &&
        train "${flags[@]}" --iterations 15 --save "$tmp/part.npz" > "$tmp/part.log" &&
        train "${flags[@]}" --resume "$tmp/part.npz" --save "$tmp/end.npz" >> "$tmp/part.log" &&
        diff "$tmp/whole.log" "$tmp/part.log" || return 1
    "$python" - "$tmp/whole.npz" "$tmp/end.npz" <<'EOF' || return 1
import sys

import numpy as np

from ch9_shared.checkpoint import load_checkpoint

a, b = (load_checkpoint(p) for p in sys.argv[1:])
same = all(np.array_equal(getattr(a, k), getattr(b, k))
           for k in ("weights_0_1", "weights_1_2", "torch_rng"))
print(f"resumed run: same log, same weights and generator state to the bit: {same} "
      f"(generator on {b.torch_rng_device})")
sys.exit(not same)
EOF
    "$python" scripts/evaluate.py "$tmp/end.npz" --impl torch --device "$device" \
        --test-size 2000 | sed -n 2p
}

cross_device_line() {  # FLAGS...: resuming must stop with one line naming the other device
    local made=$1
    shift
    train "$@" --resume "$tmp/made.npz" --save "$tmp/resumed.npz" > /dev/null 2> "$tmp/err"
    local status=$?
    cat "$tmp/err"
    [ "$status" -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] &&
        grep -q -- "--device $made\$" "$tmp/err" && [ ! -e "$tmp/resumed.npz" ]
}

resume_across_devices() {
    local flags=(--log-every 10 --dtype "$dtype" "${short[@]}")
    if [ "$device" = cpu ]; then  # a CUDA generator's 16 bytes, crafted
        train --device cpu --rng torch "${flags[@]}" --iterations 10 --save "$tmp/made.npz" \
            > /dev/null &&
            "$python" - "$tmp/made.npz" <<'EOF' || return 1
import sys
from pathlib import Path

import torch

from ch9_shared.checkpoint import load_checkpoint, save_checkpoint

checkpoint = load_checkpoint(Path(sys.argv[1]))
checkpoint.torch_rng = torch.Generator().manual_seed(1).get_state()[:16].numpy()
checkpoint.torch_rng_device = "cuda"
save_checkpoint(Path(sys.argv[1]), checkpoint)
EOF
        cross_device_line cuda --device cpu --rng torch "${flags[@]}"
        return
    fi
    for rng in numpy torch; do  # made on the GPU, resumed on the CPU, and the other way
        for made in "$device" cpu; do
            local other=cpu
            [ "$made" = cpu ] && other=$device
            train --device "$made" --rng "$rng" "${flags[@]}" --iterations 10 \
                --save "$tmp/made.npz" > /dev/null || return 1
            if [ "$rng" = numpy ]; then
                train --device "$other" --rng numpy "${flags[@]}" --resume "$tmp/made.npz" \
                    > /dev/null && echo "--rng numpy: made on $made, resumed on $other" ||
                    return 1
            else
                cross_device_line "$made" --device "$other" --rng torch "${flags[@]}" || return 1
            fi
        done
    done
}

stacked_models() {  # several models, their own alphas and seeds, float64: NumPy's logs
    "$python" - "$device" <<'EOF'
import sys

from ch9_shared.config import Config
from ch9_shared.data import load
from ch9_shared.loop import train
from numpy_impl.fast import FastNetwork
from scripts.stacked import train_stack

data = load(test_size=2000)
base = Config(mode="exact", divisor="batch*classes", iterations=30, test_size=2000)
configs = [base.replace(alpha=alpha, seed=seed) for alpha, seed in ((0.5, 1), (2.0, 1), (4.0, 2))]
stack = train_stack(configs, data, sys.argv[1])
same = []
for config, log in zip(configs, stack.logs):
    records = []
    train(FastNetwork(config), data, records.append)
    same.append([str(r) for r in log] == [str(r) for r in records])
print(f"{len(configs)} models on {stack.stack.weights_0_1.device}: each log is NumPy's: {same}")
sys.exit(not all(same))
EOF
}

study_quick() {
    "$python" scripts/study.py --quick --device "$device" --dtype "$dtype" --out "$tmp/study" \
        > /dev/null 2> "$tmp/study.log"
    local status=$?
    tail -1 "$tmp/study.log"
    [ "$status" -eq 0 ] && [ -s "$tmp/study/study.md" ] && [ -s "$tmp/study/study.json" ]
}

bench_device_rows() {
    "$python" tools/bench.py --quick --device-rows "$device" --json "$tmp/bench.json" &&
        "$python" - "$tmp/bench.json" "$device" <<'EOF'
import json, sys

rows = json.load(open(sys.argv[1]))["rows"]
device = sys.argv[2]
ok = bool(rows) and all(r["roofline"] == device and r["roofline_fraction"] > 0 for r in rows)
ok = ok and all((r["gpu_peak_mb"] or 0) > 0 for r in rows) if device == "cuda" else ok
print(f"{len(rows)} device row(s), each against the device's own GEMM"
      f"{', with its GPU peak memory' if device == 'cuda' else ''}: {ok}")
sys.exit(not ok)
EOF
}

if [ "$device" = cpu ]; then
    check "versions" versions
else
    check "versions, and torch sees the GPU" versions
fi
if [ "$device" = cpu ]; then
    skip "pytest -m cuda, no test skipped" "needs a GPU (on the CPU every CUDA test skips)"
else
    check "pytest -m $device, no test skipped$([ "$device" = mps ] && echo " but float64's")" \
        pytest_marked_without_skips
fi
if [ "$device" = mps ]; then
    skip "the book's log, exactly (float64)" "MPS has no float64"
    check "scripts/compare.py on mps, float32" compare_float32
else
    check "the book's log, exactly, on $device (float64, --rng numpy)" book_log
    check "scripts/compare.py on $device, float64 and float32" compare_both_dtypes
fi
check "float32 --rng torch on $device: final accuracy within 0.015 of 0.8701" float32_torch_masks
check "save, resume and evaluate on $device ($dtype)" save_resume_evaluate
if [ "$device" = cpu ]; then
    skip "resume across devices: cuda -> cpu works (--rng numpy)" "needs a GPU"
    check "resume across devices: crafted cuda generator -> cpu is one clear line" \
        resume_across_devices
else
    check "resume across devices (works, or one clear line)" resume_across_devices
fi
if [ "$device" = mps ]; then
    skip "stacked trainer, several models (float64: NumPy's logs)" "MPS has no float64"
else
    check "stacked trainer, several models, on $device" stacked_models
fi
check "scripts/study.py --quick --device $device --dtype $dtype" study_quick
check "tools/bench.py --quick --device-rows $device" bench_device_rows

echo
echo "tools/gpu_check.sh on $device, $((SECONDS - start)) s:"
printf '%s\n' "${summary[@]}"
exit "$failed"
