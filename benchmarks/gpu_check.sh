#!/usr/bin/env bash
# The CUDA checks of the torch members (issue 20), for a machine with an
# NVIDIA GPU. From the repository root:
#
#     bash benchmarks/gpu_check.sh [RESULTS_DIR]
#
# 1. the tests that carry the members-trained-in-groups guarantee (one
#    partition changed, every other member bit-identical; seeds; warm start;
#    per-member loss and steps; dropout members) and direct prediction, with
#    device="cuda" (their "cuda" cases, which CI skips: it has no GPU);
# 2. benchmarks/bench_torch_batched.py --gpu-only: grouped against one at a
#    time on the GPU, and k=1200 on all of Fashion-MNIST (fit, predict,
#    certify); then its GPU section 3 again with dropout 0.25 and shifts of 2
#    (stacked members each drawing from their own stream).
# Uses $PYTHON (default python3) with a CUDA build of torch, skorch and
# scikit-learn; the package is read from src/. Fashion-MNIST's IDX files must
# be where skdpa.datasets.load_fashion_mnist looks
# (/usr/share/datasets/fashion-mnist). The benchmark's record is copied to
# RESULTS_DIR (default benchmarks/results). Exit status 1 if a test failed.
set -u -o pipefail
PY=${PYTHON:-python3}
RESULTS=${1:-benchmarks/results}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$RESULTS"
"$PY" - <<'PYEOF' || exit 1
import numpy, sklearn, skorch, torch
assert torch.cuda.is_available(), "no CUDA device: nothing to check"
print("torch", torch.__version__, "CUDA", torch.version.cuda,
      torch.cuda.get_device_name(0))
print("numpy", numpy.__version__, "scikit-learn", sklearn.__version__,
      "skorch", skorch.__version__)
PYEOF
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
status=0
echo "== 1. tests, device='cuda'"
# the project's own warning filters make deprecations errors; a GPU machine's
# torch/numpy may be other versions than CI's, so they only warn here
"$PY" -m pytest -q -p no:cacheprovider -k cuda \
    -W ignore::DeprecationWarning -W ignore::FutureWarning \
    tests/test_torch_batched.py tests/test_torch_direct.py || status=1
echo "== 2. benchmark"
(cd benchmarks && "$PY" bench_torch_batched.py --gpu-only --n-test 10000) || status=1
latest=$(ls -t benchmarks/results/bench_torch_batched/*.json 2>/dev/null | head -1)
if [ -n "$latest" ] && [ "$RESULTS" != benchmarks/results ]; then
    cp "$latest" "$RESULTS/"
fi
echo "== 3. benchmark with dropout and shifts"
(cd benchmarks && "$PY" bench_torch_batched.py --gpu-only --no-k1200 \
    --dropout 0.25 --max-shift 2) || status=1
latest=$(ls -t benchmarks/results/bench_torch_batched/*.json 2>/dev/null | head -1)
if [ -n "$latest" ] && [ "$RESULTS" != benchmarks/results ]; then
    cp "$latest" "$RESULTS/"
fi
exit $status
