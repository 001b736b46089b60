"""Does the window stay responsive while it trains on a busy CPU, per training-process niceness?

Companion of bench/busy_cpu.py (issue 34 item 9). Runs ``bench/ui_latency.py``'s training
measurement (the real window, offscreen, a 5 ms timer that records how late the event loop
serves it while Fine-tune runs) in a fresh Python per niceness of the training process, idle or
beside ``yes > /dev/null`` busy processes (killed at the end of each run, whatever happens).

    python bench/busy_cpu_ui.py --nice 5 1 --busy 1 0 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from busy_cpu import OUT_DIR, REPO, start_busy, stop_busy  # noqa: E402

RUN = """
import json, sys
sys.path.insert(0, {bench!r})
from fcn_studio import cpu_share
cpu_share.TRAINING_NICENESS = {nice}
import ui_latency
print("RESULT " + json.dumps(ui_latency.training_latency({seconds})), flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nice", type=int, nargs="+", default=[5, 1], help="training-process niceness values")
    ap.add_argument("--busy", type=int, nargs="+", default=[1], help="busy processes per core (0: idle)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the Fine-tune run")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "busy_cpu_ui.json")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    rows = [{"start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg()}]
    for busy_per_core in args.busy:
        for nice in args.nice:
            code = RUN.format(bench=str(REPO / "bench"), nice=nice, seconds=args.seconds)
            busy = start_busy(busy_per_core)
            try:
                out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                     timeout=args.seconds + 400)
                line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
                result = json.loads(line[len("RESULT "):]) if line else {"error": out.stderr[-1500:]}
            except subprocess.TimeoutExpired:
                result = {"error": "timed out"}
            finally:
                stop_busy(busy)
            row = {"training_niceness": nice, "busy_per_core": busy_per_core, "loadavg_after": os.getloadavg()} | result
            rows.append(row)
            print(json.dumps(row), flush=True)
    rows.append({"end_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": os.getloadavg()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
