#!/usr/bin/env bash
# The annotation-loop table of issue 26 in one sitting: two runs at a time, each pinned to its
# own core with one torch thread. Policy c replays policy a's masks, so it runs after a.
#   bash bench/annotation_loop_sitting.sh [results-folder]
set -u
OUT=${1:-bench/results/annotation_loop}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
loop() { local core=$1 name=$2; shift 2; taskset -c "$core" "$PY" bench/annotation_loop.py --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1; }
date -u +"start %FT%TZ" >> "$OUT/sitting.log"
# 11 classes: a and b side by side, then c on a's masks beside the road runs and the tool variants
loop 0 a11 --policy a --task camvid11 --rounds 9 --tools region &
loop 1 b11 --policy b --task camvid11 --rounds 9 --tools region &
wait
loop 0 c11 --policy c --task camvid11 --rounds 9 --masks-from "$OUT/a11" &
( loop 1 a_road --policy a --task road --rounds 5 --tools region
  loop 1 b_road --policy b --task road --rounds 5 --tools region
  loop 1 c_road --policy c --task road --rounds 5 --masks-from "$OUT/a_road"
  # the tools, one at a time, policy a
  loop 1 a11_accept --policy a --task camvid11 --rounds 9 --tools region,accept
  loop 1 a11_no_region --policy a --task camvid11 --rounds 9 --tools "" ) &
wait
date -u +"end %FT%TZ" >> "$OUT/sitting.log"
