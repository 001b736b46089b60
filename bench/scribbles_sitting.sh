#!/usr/bin/env bash
# One sitting of bench/scribbles.py: fcn-studio's default on core 0, the peers on core 1, side
# by side (each process pinned with taskset, one torch thread), both tasks, 10 and 40 images.
# Trains on drives val does not show (bench/camvid.py's default protocol; PROTOCOL=same-drive for the old one).
#   bash bench/scribbles_sitting.sh [MINUTES] [OUT_DIR]     # default 10 minutes, bench/results
#   PEERS=lraspp bash bench/scribbles_sitting.sh 10 OUT     # the reference recipe only
set -euo pipefail
cd "$(dirname "$0")/.."
MIN="${1:-10}"
OUT="${2:-bench/results}"
PY="${PY:-.venv/bin/python}"
mkdir -p "$OUT"
PROTO=(${PROTOCOL:+--protocol "$PROTOCOL"})
taskset -c 0 "$PY" bench/scribbles.py --methods fcn-studio --minutes "$MIN" --threads 1 "${PROTO[@]}" \
    --json "$OUT/scribbles_fcn_studio.json" > "$OUT/scribbles_fcn_studio.log" 2>&1 &
A=$!
taskset -c 1 "$PY" bench/scribbles.py --methods "${PEERS:-lraspp,skimage-rf}" --minutes "$MIN" --threads 1 "${PROTO[@]}" \
    --json "$OUT/scribbles_peers.json" > "$OUT/scribbles_peers.log" 2>&1 &
B=$!
wait $A $B
"$PY" bench/scribbles_table.py "$OUT/scribbles_fcn_studio.json" "$OUT/scribbles_peers.json"
