#!/usr/bin/env bash
# Continue the bundled DDPM U-Net on a lent GPU for a fixed wall time, in one prepared call.
#
#   run (device tool): bash benchmarks/device/train_ddpm.sh        # OUT is set by the tool
#   toy check on a CPU: OUT=/tmp/dev MINUTES=0.2 BATCH=8 DEVICE=cpu PYTHON=.venv/bin/python \
#                       bash benchmarks/device/train_ddpm.sh     (in a scratch copy: it rewrites the bundled file)
#
# Warm start from genbench/reference_models/ddpm-unet.safetensors (its manifest step), batch
# $BATCH (1024), AdamW lr 2e-4 with the warm-up again, EMA 0.9995, for at most $MINUTES minutes
# (8) of training; then the EMA weights are bundled in fp16 with their test ε-MSE (printed), and
# the weights, the manifest, log.csv, curve.png and the console log are copied to $OUT. Bring
# them back with the tool's files, put the two reference_models files in place here, and evaluate.
set -euo pipefail
OUT=${OUT:?set OUT to a folder for the results}
MINUTES=${MINUTES:-8}
BATCH=${BATCH:-1024}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
LOG_DIR=$(mktemp -d)  # the checkpoint (tens of MB) stays there: only small files come back
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'device', '$DEVICE',
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')"
"$PYTHON" -m genbench.training.train_ddpm --init-from genbench/reference_models/ddpm-unet.safetensors \
    --refine-channels 32 --batch-size "$BATCH" --lr 0.0002 --ema 0.9995 --seed 0 --threads 2 \
    --device "$DEVICE" --steps 10000000 --max-minutes "$MINUTES" --log-dir "$LOG_DIR" 2>&1 | tee "$OUT/train.log"
cp genbench/reference_models/ddpm-unet.safetensors genbench/reference_models/manifest.json "$OUT/"
for f in log.csv curve.png; do [ -f "$LOG_DIR/$f" ] && cp "$LOG_DIR/$f" "$OUT/"; done  # none before LOG_EVERY steps
"$PYTHON" -c "import json; e = json.load(open('$OUT/manifest.json'))['ddpm-unet']
print('bundled ddpm-unet: step', e['steps'], 'test eps-MSE fp16', e['test_eps_mse'], 'sha256', e['sha256'])"
