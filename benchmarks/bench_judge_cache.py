"""Cost of the LLM judge's on-disk verdict cache: N new verdicts written, the file loaded again, N cache hits.

The judge's HTTP request is replaced by an in-process reply, so the times are the cache's own.

    python benchmarks/bench_judge_cache.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from grit.judge import LLMJudge


def judge_on(cache: Path) -> LLMJudge:
    judge = LLMJudge("http://127.0.0.1:9/v1", "bench-judge", cache_path=cache)
    judge._post = lambda messages: '{"score": 1}'  # no network: only the cache is timed
    return judge


def once(n: int, folder: Path) -> dict[str, float]:
    cache = folder / "judge-cache"
    items = [(f"prediction {i}", "answer", f"question {i}") for i in range(n)]
    judge = judge_on(cache)
    t0 = time.perf_counter()
    for item in items:
        judge.score(*item)
    t1 = time.perf_counter()
    again = judge_on(cache)
    t2 = time.perf_counter()
    assert all(again.score(*item) == 1.0 for item in items)
    t3 = time.perf_counter()
    return {"write_s": t1 - t0, "load_s": t2 - t1, "hits_s": t3 - t2, "file_bytes": cache.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    runs = []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(once(a.n, Path(tmp)))
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    result = {
        "n": a.n,
        "write_s": round(best["write_s"], 4),
        "write_us_per_verdict": round(1e6 * best["write_s"] / a.n, 1),
        "load_s": round(best["load_s"], 4),
        "hits_us_per_verdict": round(1e6 * best["hits_s"] / a.n, 1),
        "file_bytes": int(best["file_bytes"]),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
