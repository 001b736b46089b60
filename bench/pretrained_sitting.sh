#!/usr/bin/env bash
# Issue 25's sitting: fcn-studio's pretrained default against random init, the pretrained floor
# (plain cross-entropy), napari-convpaint's method on the same trunk and torchvision's lraspp
# recipe; strokes (11 classes and road vs not road) then dense masks, unseen-drive protocol.
# Two cores, each process pinned with taskset, one torch thread, MIN minutes per network method.
#   bash bench/pretrained_sitting.sh [MINUTES] [OUT_DIR]          # default 10, bench/results
#   SIZES=10,40 bash bench/pretrained_sitting.sh 10 OUT            # also 40 images of strokes
set -euo pipefail
cd "$(dirname "$0")/.."
MIN="${1:-10}"
OUT="${2:-bench/results}"
PY="${PY:-.venv/bin/python}"
SIZES="${SIZES:-10}"
mkdir -p "$OUT"
strokes() {  # core, methods, name
    taskset -c "$1" "$PY" bench/scribbles.py --methods "$2" --minutes "$MIN" --threads 1 --sizes "$SIZES" \
        --tasks camvid11,road --json "$OUT/strokes_$3.json" > "$OUT/strokes_$3.log" 2>&1
}
dense() {  # core, methods, name
    taskset -c "$1" "$PY" bench/camvid.py --methods "$2" --minutes "$MIN" --threads 1 \
        > "$OUT/dense_$3.log" 2>&1
    tail -1 "$OUT/dense_$3.log" > "$OUT/dense_$3.json"
}
( strokes 0 fcn-studio,lite0-ce a_c && dense 0 fcn-studio,lite0-ce a_c ) &
A=$!
( strokes 1 fcn-studio-random,lraspp,convpaint b_e_d && dense 1 fcn-studio-random,lraspp b_e ) &
B=$!
wait $A $B
"$PY" bench/scribbles_table.py "$OUT"/strokes_*.json
