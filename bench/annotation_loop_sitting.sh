#!/usr/bin/env bash
# The annotation-loop table of issue 32 in one sitting: two runs at a time, each pinned to its own
# core with one torch thread (the run's training process inherits the core). Policy c is a
# without click-to-segment; d fits napari-convpaint's method on policy a's masks, after a;
# a_road_no_region is a without the region brush (what the tool adds).
#   bash bench/annotation_loop_sitting.sh [results-folder] [protocol]
# Tune with protocol tune-drive (scored on drive 0006R0); confirm once on unseen-drive (default).
set -u
OUT=${1:-bench/results/annotation_loop}
PROTOCOL=${2:-unseen-drive}
WORK=${WORK:-/tmp/fcn-loop-work}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
rm -rf "$WORK"
loop() { local core=$1 name=$2; shift 2
         taskset -c "$core" "$PY" bench/annotation_loop.py --protocol "$PROTOCOL" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1; }
date -u +"start %FT%TZ ($PROTOCOL)" >> "$OUT/sitting.log"
ALL=region,accept,sam
loop 0 a11 --policy a --task camvid11 --tools $ALL --work "$WORK/a11" &
loop 1 b11 --policy b --task camvid11 --tools $ALL &
wait
loop 0 c11 --policy a --task camvid11 --tools region,accept &
loop 1 d11 --policy d --task camvid11 --masks-from "$WORK/a11" --score-every 6 &  # 15-17 min of a core per scored round
wait
( loop 0 a_road --policy a --task road --tools $ALL --work "$WORK/a_road"
  loop 0 c_road --policy a --task road --tools region,accept
  loop 0 a_road_no_region --policy a --task road --tools accept,sam ) &
( loop 1 b_road --policy b --task road --tools $ALL
  sleep 1; while [ ! -f "$WORK/a_road/rounds.json" ]; do sleep 10; done
  loop 1 d_road --policy d --task road --masks-from "$WORK/a_road" --score-every 5 ) &
wait
date -u +"end %FT%TZ" >> "$OUT/sitting.log"
"$PY" bench/annotation_loop_plot.py "$OUT"
