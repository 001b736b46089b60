#!/usr/bin/env bash
# The seed's table: FCN-32s, 16s, 8s and 4s on the VGG16 and MobileNetV3 trunks, same data
# (CamVid train frames of the drives val does not show, dense: bench/camvid.py's default
# protocol), same budget, one torch thread on one core, all 101 val images.
#
#   bash bench/fcn_variants.sh MINUTES CORE OUT_DIR      # e.g. 4 1 bench/results/fcn_variants
#   BACKBONES=mobilenet_v3_large bash bench/fcn_variants.sh 4 1 OUT   # one trunk only
#   python bench/fcn_variants_table.py OUT_DIR           # the markdown table
set -euo pipefail
minutes=${1:-4}
core=${2:-1}
out=${3:-bench/results/fcn_variants}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
mkdir -p "$out"
for backbone in ${BACKBONES:-mobilenet_v3_large vgg16}; do
  for variant in fcn32s fcn16s fcn8s fcn4s; do
    name="${backbone}_${variant}"
    echo "$(date -u +%H:%M:%S) $name" >&2
    taskset -c "$core" "$py" "$here/bench/camvid.py" --methods fcn-studio --threads 1 --minutes "$minutes" \
      --set backbone="$backbone" --set variant="$variant" ${PROTOCOL:+--protocol "$PROTOCOL"} > "$out/$name.log" 2>&1
    tail -n 1 "$out/$name.log" > "$out/$name.json"
  done
done
