"""How fast the command line starts: `paracle --version` and `paracle agents`.

Baseline, measured in the same run: a bare `python -c pass`. Aim: both commands under 0.3 s.
Prints one `RESULT` line per figure (median of several runs).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    env = dict(os.environ, PARACLE_HOME=tempfile.mkdtemp(prefix="paracle-bench-"))
    # As a user runs it: bytecode cached after the first start (this workplace disables it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cold = dict(env, PYTHONDONTWRITEBYTECODE="1")
    baseline = timed([sys.executable, "-c", "pass"], env)
    for name, args in (("version", ["--version"]), ("agents", ["agents"])):
        cmd = [sys.executable, "-m", "paracle_tui.cli", *args]
        subprocess.run(cmd, env=env, check=True, capture_output=True)  # writes the bytecode
        t = timed(cmd, env)
        t_cold = timed(cmd, cold)
        print(
            f"RESULT startup_{name}_s={t:.3f} no_bytecode_s={t_cold:.3f}"
            f" baseline_python_s={baseline:.3f} aim_s=0.3"
        )


if __name__ == "__main__":
    main()
