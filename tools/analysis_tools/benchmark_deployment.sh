#!/usr/bin/env bash
# The timing figures of docs/en/user_guides/deployment_latency.md, and the
# deployed accuracy of the main job's trained networks, in one run that
# should have the machine to itself (more than an hour on 2 cores):
#
#   bash tools/analysis_tools/benchmark_deployment.sh [WORK] [MAIN]
#
# WORK (default work_dirs/deploy_timing) receives every file and a log per
# step; MAIN (default work_dirs/main) is a finished `bash tools/run.sh main`,
# whose classifier and detector are exported, evaluated in both runtimes and
# quantised. A step whose result is there is skipped, so an interrupted run
# resumes where it stopped.
#
# 1. RetinaNet with cream-287, cream-481, the main job's searched arch,
#    MobileNetV2 and ResNet-50 in PyTorch, onnxruntime and OpenVINO, 640x640,
#    1 and 2 threads, in turns;
# 2. the main job's detector and classifier: exported, their test metric in
#    PyTorch (tools/test.py) and in both runtimes (tools/deployment/test.py),
#    and int8 against float32 (tools/deployment/quantize.py);
# 3. latency tables in onnxruntime and OpenVINO, 1 thread, at 224 and 640x640,
#    each checked on seeded children whole: a correction fitted on seed 0's,
#    checked on seed 1's (held out).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="${1:-work_dirs/deploy_timing}"
MAIN="${2:-work_dirs/main}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
SPACE=configs/cream/cream-search_0-600_8xb128_in1k.py
DETECT=configs/retinanet/retinanet_cream-searched_fpn_fashion-det.py
CLASSIFY=configs/cream/cream_fashion-mnist.py
mkdir -p "$WORK"

# step NAME RESULT CMD...: run CMD unless RESULT exists, its output to the
# terminal and to WORK/NAME.log; RESULT is written by CMD, or is the log. A
# failed step is reported and the others still run.
step() {
  local name="$1" result="$2"; shift 2
  if [ -s "$result" ]; then echo "== $name: done ($result)"; return; fi
  echo "== $name: $*"
  if "$@" 2>&1 | tee "$WORK/$name.log.partial"; then
    mv "$WORK/$name.log.partial" "$WORK/$name.log"
  else
    echo "== $name FAILED: its output is in $WORK/$name.log.partial"; FAILED+=("$name")
  fi
}
FAILED=()

for checkpoint_file in "$MAIN/pretrain/last_checkpoint" "$MAIN/detect/last_checkpoint"; do
  [ -s "$checkpoint_file" ] || { echo "no $checkpoint_file: run bash tools/run.sh main first" >&2; exit 2; }
done
CLASSIFIER_CKPT="$(cat "$MAIN/pretrain/last_checkpoint")"
DETECTOR_CKPT="$(cat "$MAIN/detect/last_checkpoint")"
SEARCHED=(--cfg-options "model.backbone.arch=$MAIN/search/arch.json")  # the classifier's arch

# 1. Detectors side by side.
step detectors "$WORK/detectors.log" "$PY" tools/analysis_tools/benchmark_detectors.py \
  --backends torch onnxruntime openvino --cream cream-287 cream-481 \
  --arch "$MAIN/search/arch.json" --threads 1 2 --size 640 640 --rounds 5 \
  --work-dir "$WORK/detectors"

# 2. The main job's networks, deployed: test metric per runtime, then int8.
DETECT_CFG="$MAIN/detect/$(basename "$DETECT")"   # as the main job's run resolved it
step export_detector "$WORK/retinanet.onnx" "$PY" tools/deployment/pytorch2onnx.py \
  "$DETECT_CFG" "$DETECTOR_CKPT" --out "$WORK/retinanet.onnx"
step map_torch "$WORK/map_torch.log" "$PY" tools/test.py "$DETECT_CFG" "$DETECTOR_CKPT" \
  --work-dir "$WORK/map_torch"
for backend in onnxruntime openvino; do
  step "map_$backend" "$WORK/map_$backend.log" "$PY" tools/deployment/test.py \
    "$DETECT_CFG" "$WORK/retinanet.onnx" --backend "$backend"
done
step export_classifier "$WORK/classifier.onnx" "$PY" tools/deployment/pytorch2onnx.py \
  "$CLASSIFY" "$CLASSIFIER_CKPT" --out "$WORK/classifier.onnx" \
  "${SEARCHED[@]}"
for backend in onnxruntime openvino; do
  step "top1_$backend" "$WORK/top1_$backend.log" "$PY" tools/deployment/test.py \
    "$CLASSIFY" "$WORK/classifier.onnx" --backend "$backend" \
    "${SEARCHED[@]}"
done
step int8_detector "$WORK/retinanet_int8.onnx" "$PY" tools/deployment/quantize.py \
  "$WORK/retinanet.onnx" --calib "$DETECT_CFG" --images 100
step int8_classifier "$WORK/classifier_int8.onnx" "$PY" tools/deployment/quantize.py \
  "$WORK/classifier.onnx" --calib "$CLASSIFY" --images 100 \
  "${SEARCHED[@]}"
# 3. Tables per runtime, fitted on seed 0 and checked on seed 1.
for size in 224 640; do
  for backend in onnxruntime openvino; do
    table="$WORK/table_${backend}_${size}.json"
    if [ "$size" = 224 ]; then children=(--children 20 --rounds 3 --repeats 10);
    else children=(--children 10 --rounds 3 --repeats 3 --warmup 3); fi
    step "table_${backend}_${size}" "$table" "$PY" tools/analysis_tools/latency_table.py "$SPACE" \
      --backend "$backend" --threads 1 --shape "$size" "$size" --repeats 20 --warmup 5 --rounds 3 \
      --out "$table"
    step "children_${backend}_${size}_seed0" "$WORK/children_${backend}_${size}_seed0.log" \
      "$PY" tools/analysis_tools/benchmark_latency_table.py "$SPACE" --table "$table" \
      "${children[@]}" --seed 0 --fit scale
    step "children_${backend}_${size}_seed1" "$WORK/children_${backend}_${size}_seed1.log" \
      "$PY" tools/analysis_tools/benchmark_latency_table.py "$SPACE" --table "$table" \
      "${children[@]}" --seed 1
  done
done

if [ ${#FAILED[@]} -gt 0 ]; then echo "== failed: ${FAILED[*]}"; exit 1; fi
echo "== all steps done: logs in $WORK"
