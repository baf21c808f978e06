#!/usr/bin/env bash
# GPU check in minutes: the training-throughput benchmark on CUDA, then a 3-epoch training of each edge model on
# CUDA, each step under its own time limit, partial results written to $OUT as they come. Installs nothing.
#
#   OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh            # whole check under GPU_CHECK_SECONDS (default 280)
#   PYTHON=.venv/bin/python DATA=../shared/data/animal-sounds bash benchmarks/gpu_check.sh
#
# Writes $OUT/train_throughput.json (rewritten after every row), $OUT/throughput.txt (the table),
# $OUT/train-<model>.txt (log and the run's report line), $OUT/summary.txt. Exit 0 when every step finished.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT=${OUT:-$(mktemp -d /tmp/nightscan-gpu-check.XXXXXX)}
BUDGET=${GPU_CHECK_SECONDS:-280}
MODELS=${MODELS:-ultralight_audio lightweight_audio mobilenet_v3_small_photo}
export PYTHONPATH=${PYTHONPATH:-$PWD/src}
mkdir -p "$OUT"
started=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - started) )); }
status=0

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA GPU visible (torch.cuda.is_available() is False); run it on a GPU machine" | tee "$OUT/summary.txt"
  exit 2
fi
"$PYTHON" -c "import torch; print('gpu:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| bf16', torch.cuda.is_bf16_supported())" | tee "$OUT/summary.txt"

# 1. Throughput on CUDA (fp32, bf16 autocast, channels-last for photos): half the budget at most.
budget=$(( $(left) / 2 ))
timeout --signal=TERM --kill-after=10 "$budget" "$PYTHON" benchmarks/train_throughput.py --devices cuda \
  --variants fp32,bf16,channels_last --batch-size 256 --steps 20 --epochs 2 --image-size 128 \
  ${DATA:+--data "$DATA"} --out "$OUT/train_throughput.json" 2>&1 | tee "$OUT/throughput.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { status=1; echo "throughput: stopped (time limit ${budget}s or error); partial rows kept" | tee -a "$OUT/summary.txt"; }

# 2. A 3-epoch training of each edge model on CUDA, each with an equal share of what is left.
set -- $MODELS
for model in "$@"; do
  share=$(( $(left) / $# ))
  shift
  if [ "$share" -lt 20 ]; then echo "train $model: skipped (budget spent)" | tee -a "$OUT/summary.txt"; status=1; continue; fi
  data=${DATA:-}
  if [ -z "$data" ] || [[ "$model" == *photo* ]]; then
    data="$OUT/data-${model##*_}"
    [ -d "$data" ] || "$PYTHON" -c "import sys; from nightscan_edge.data import write_synthetic_dataset as w; w(sys.argv[1], kind=sys.argv[2], per_class=40, image_size=128)" "$data" "$([[ "$model" == *photo* ]] && echo photo || echo audio)"
  fi
  begin=$(date +%s)
  timeout --signal=TERM --kill-after=10 "$share" "$PYTHON" -m nightscan_edge.cli train --data "$data" --model "$model" \
    --epochs 3 --accelerator gpu --devices 1 --no-progress --run-dir "$OUT/run-$model" \
    --set model.image_size=128 --set train.early_stopping_patience=null --set train.precision=bf16-mixed \
    > "$OUT/train-$model.txt" 2>&1
  rc=$?
  line=$(grep -E "^run .*best val accuracy" "$OUT/train-$model.txt" | tail -1)
  echo "train $model: exit $rc, $(( $(date +%s) - begin )) s ${line:+| $line}" | tee -a "$OUT/summary.txt"
  [ "$rc" -eq 0 ] || status=1
done

echo "total $(( $(date +%s) - started )) s of ${BUDGET} s; results in $OUT" | tee -a "$OUT/summary.txt"
exit $status
