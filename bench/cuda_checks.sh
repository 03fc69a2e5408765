#!/usr/bin/env bash
# The project's GPU checks, as one prepared run for a lent CUDA machine (nothing in robossl requires one):
#   1. bench/methods_speed.py on CUDA against lightly's losses, batch 256 and 1024;
#   2. `robossl pretrain --device cuda` + `robossl probe --device cuda` on generated IMU windows
#      (with an exact-resume check: 2 x 30 steps == 60 steps).
# The machine needs torch with CUDA, numpy, tqdm, PIL and torchvision (lightly's transforms); lightly itself
# may be given as wheels in .whl/ (pip download --no-deps lightly==1.6.0 -d .whl). Results go to $OUT
# (default /tmp/robossl_cuda) and bench/results/methods_speed_cuda*.json.
#
#   bash bench/cuda_checks.sh
#   DEVICE=cpu SKIP_SPEED=1 PYTHON=.venv/bin/python bash bench/cuda_checks.sh     # dry run of part 2 on a CPU
#   DEVICE=cpu BLOCKS=2 BLOCKS_1024=2 STEPS=1 PYTHON=$LIGHTLY_VENV/bin/python OUT=/tmp/dry bash bench/cuda_checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLCONFIGDIR=${MPLCONFIGDIR:-/tmp/robossl-mpl}  # a fresh machine builds matplotlib's font cache once
OUT=${OUT:-/tmp/robossl_cuda}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:$PWD/sim${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$PYTHON" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
fi

if [ -z "${SKIP_SPEED:-}" ]; then
echo "[$(date +%T)] methods_speed batch 256"
"$PYTHON" bench/methods_speed.py --device "$DEVICE" --steps "${STEPS:-5}" --blocks "${BLOCKS:-60}" --batch-size 256 \
    2>&1 | tee "$OUT/methods_speed_$DEVICE.log"
echo "[$(date +%T)] methods_speed batch 1024"
"$PYTHON" bench/methods_speed.py --device "$DEVICE" --steps "${STEPS:-5}" --blocks "${BLOCKS_1024:-30}" --batch-size 1024 \
    --tag b1024 2>&1 | tee "$OUT/methods_speed_${DEVICE}_b1024.log"
cp bench/results/methods_speed_"$DEVICE"*.json "$OUT/" 2>/dev/null || cp bench/results/methods_speed*.json "$OUT/"
fi

"$PYTHON" - "$OUT/har.npz" <<'PY'
import sys
import numpy as np
from robossl_sim.har_synth import synthetic_har

recordings = [synthetic_har(600.0, seed=seed) for seed in range(3)]
windows, labels, groups = [], [], []
for group, rec in enumerate(recordings):
    data = np.concatenate([rec.streams[name] for name in sorted(rec.streams)], axis=1)
    for start in range(0, len(data) - 32, 16):
        windows.append(data[start : start + 32])
        labels.append(np.bincount(rec.labels[start : start + 32]).argmax())
        groups.append(group)
np.savez(sys.argv[1], windows=np.asarray(windows, np.float32), labels=np.asarray(labels), groups=np.asarray(groups))
print("windows", np.asarray(windows).shape)
PY
for method in ${METHODS:-byol dino}; do
    echo "[$(date +%T)] pretrain $method"
    "$PYTHON" -m robossl.cli.main pretrain --method "$method" --data "$OUT/har.npz" --steps 60 --batch-size 256 \
        --device "$DEVICE" --out "$OUT/$method-full" --checkpoint-every 30
    "$PYTHON" -m robossl.cli.main pretrain --method "$method" --data "$OUT/har.npz" --steps 60 --batch-size 256 \
        --device "$DEVICE" --out "$OUT/$method-resumed" --checkpoint-every 30 --stop-at 30
    "$PYTHON" -m robossl.cli.main pretrain --method "$method" --data "$OUT/har.npz" --steps 60 --batch-size 256 \
        --device "$DEVICE" --out "$OUT/$method-resumed" --checkpoint-every 30 --resume
    echo "[$(date +%T)] probe $method"
    "$PYTHON" -m robossl.cli.main probe --checkpoint "$OUT/$method-full/checkpoint.pt" --data "$OUT/har.npz" \
        --device "$DEVICE" --json "$OUT/probe_$method.json"
    "$PYTHON" - "$OUT/$method-full/checkpoint.pt" "$OUT/$method-resumed/checkpoint.pt" <<'PY'
import sys
from robossl.online.checkpoint import load_checkpoint
a, b = (load_checkpoint(p) for p in sys.argv[1:])
wa, wb = a["learner"]["method"], b["learner"]["method"]
worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa if wa[k].is_floating_point())
print(f"resume check: max |full - resumed| over the method's tensors = {worst:.3g}")
PY
done
rm -f "$OUT/har.npz"
ls "$OUT"
