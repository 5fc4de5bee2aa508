"""Data-parallel evaluation: shards of one run merge into exactly the predictions and metrics of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from grit.cli import app
from grit.errors import InvalidValue
from grit.eval.predictions import PredictionsError, parse_shard, read_predictions
from grit.eval.run import evaluate, merge_eval
from grit.models.generate import GenerationResult


class EchoGen:
    """Answers each question with its last word, boxing the whole image: deterministic per sample."""

    def __init__(self):
        self.seen: list[str] = []

    def generate(self, items, **kw):
        self.seen += [it["question"] for it in items]
        text = "<think>all [0, 0, 9, 9]</think><rethink>ok</rethink><answer>{}</answer>"
        return [GenerationResult(text.format(it["question"].split()[-1]), "<answer>", 3, 5, None, True)
                for it in items]  # fmt: skip


def make_data(root: Path) -> list[Path]:
    """Seven records over two files (ids in one, none in the other); every third answer is wrong."""
    Image.new("RGB", (10, 10)).save(root / "a.png")
    files = []
    for name, n, ids in (("alpha", 4, True), ("beta", 3, False)):
        recs = [{"question": f"say {name}{i}", "answer": f"{name}{i}" if i % 3 else "other", "image": "a.png",
                 "width": 10, "height": 10, "bboxs": [[0, 0, 5, 5]], **({"id": i} if ids else {})}
                for i in range(n)]  # fmt: skip
        files.append(root / f"{name}.jsonl")
        files[-1].write_text("".join(json.dumps(r) + "\n" for r in recs))
    return files


def by_key(path: Path) -> dict[str, dict]:
    return {r["key"]: r for r in read_predictions(path)}


def test_two_shards_merge_into_the_single_process_result(tmp_path):
    data = make_data(tmp_path)
    one = evaluate(EchoGen(), data, tmp_path / "one", progress=False)

    first = evaluate(EchoGen(), data, tmp_path / "two", shard=(0, 2), progress=False)
    assert first["run"]["merged"] is False and first["n"] == 4  # samples 0, 2, 4, 6
    assert not (tmp_path / "two" / "predictions.jsonl").exists()
    merged = evaluate(EchoGen(), data, tmp_path / "two", shard=(1, 2), progress=False)  # the last one merges
    assert merged["run"]["shards"] == 2 and merged["run"]["n_generated"] == 7
    assert merged["datasets"] == one["datasets"] and merged["n"] == 7
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["datasets"] == one["datasets"]
    rows = read_predictions(tmp_path / "two" / "predictions.jsonl")
    assert [r["index"] for r in rows] == list(range(7))  # data order
    assert by_key(tmp_path / "one" / "predictions.jsonl") == {r["key"]: r for r in rows}

    # Rerunning a shard generates nothing and merges again, to the same files.
    gen = EchoGen()
    again = evaluate(gen, data, tmp_path / "two", shard=(0, 2), progress=False)
    assert gen.seen == [] and again["datasets"] == one["datasets"]


def test_launcher_rank_picks_the_shard(tmp_path, monkeypatch):
    data = make_data(tmp_path)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    gen = EchoGen()
    m = evaluate(gen, data, tmp_path / "out", progress=False)
    assert m["run"]["shard"] == "1/3" and sorted(gen.seen) == ["say alpha1", "say beta0"]  # samples 1 and 4
    assert (tmp_path / "out" / "predictions.shard-1-of-3.jsonl").is_file()


def test_merge_refuses_gaps_duplicates_and_mixed_settings(tmp_path):
    data = make_data(tmp_path)
    out = tmp_path / "out"
    evaluate(EchoGen(), data, out, shard=(0, 2), progress=False)
    with pytest.raises(PredictionsError, match=r"3 of 7 samples are in no shard file"):
        merge_eval(out)  # shard 1 has not run
    evaluate(EchoGen(), data, out, shard=(1, 2), progress=False)
    assert merge_eval(out)["n"] == 7  # the recorded data and limit are used

    s0, s1 = out / "predictions.shard-0-of-2.jsonl", out / "predictions.shard-1-of-2.jsonl"
    lines0, lines1 = s0.read_text().splitlines(keepends=True), s1.read_text()
    s1.write_text(lines1 + lines0[0])
    with pytest.raises(
        PredictionsError, match=r"shard-1-of-2.jsonl: sample 'alpha/0' is also in .*shard-0-of-2"
    ):
        merge_eval(out)
    s1.write_text(lines1)
    s0.write_text("".join(lines0[1:]))
    with pytest.raises(PredictionsError, match=r"1 of 7 samples are in no shard file.*'alpha/0'"):
        merge_eval(out)
    s0.write_text("".join(lines0))
    run1 = out / "run.shard-1-of-2.json"
    run1.write_text(json.dumps({**json.loads(run1.read_text()), "prompt": "vanilla"}))
    with pytest.raises(PredictionsError, match="run with different prompt"):
        merge_eval(out)
    (out / "predictions.shard-0-of-3.jsonl").write_text("")
    with pytest.raises(PredictionsError, match=r"shards of \[2, 3\] processes"):
        merge_eval(out)


@pytest.mark.parametrize("spec", ["2/2", "3/2", "1/0", "a/b", "1"])
def test_bad_shard_specs_are_named(spec):
    with pytest.raises(InvalidValue, match=f"shard '{spec}'"):
        parse_shard(spec)
    assert parse_shard(" 1 / 4 ") == (1, 4)


def test_cli_shard_and_merge(tmp_path):
    data = ",".join(str(p) for p in make_data(tmp_path))
    out = tmp_path / "out"

    def grit(*args):
        return CliRunner().invoke(app, ["eval", *map(str, args)])

    bad = grit("--model", "m", "--data", data, "--out", out, "--shard", "3/2")
    assert bad.exit_code == 1 and bad.stderr.strip() == (
        "error: shard '3/2': expected i/n with 0 <= i < n (e.g. 0/2 and 1/2)"
    ), bad.output
    evaluate(EchoGen(), data.split(","), out, shard=(1, 2), progress=False)
    gap = grit("--merge", "--out", out)
    assert gap.exit_code == 1 and len(gap.stderr.strip().splitlines()) == 1 and "no shard file" in gap.stderr
    evaluate(EchoGen(), data.split(","), out, shard=(0, 2), progress=False)
    (out / "predictions.jsonl").unlink()
    ok = grit("--merge", "--out", out)
    assert ok.exit_code == 0, ok.output
    assert len(read_predictions(out / "predictions.jsonl")) == 7
    assert grit("--out", out).exit_code == 1  # neither --model/--data nor --merge


# ------------------------------------------------------------------------------------- tiny model, for real

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_greedy_results_do_not_depend_on_processes_batch_size_or_a_kill(tmp_path, monkeypatch):
    """1 process vs 2 launched by torchrun, batch size 1 vs 8, and a run killed halfway and resumed: the same
    predictions (completion and scores of every sample) and the same metrics."""
    from grit.data.shapes import generate_split
    from grit.models.generate import Generator
    from grit.models.tiny import build_tiny

    build_tiny("qwen2_5_vl", tmp_path / "m")
    paths = generate_split(tmp_path / "d", n_per_style=3, seed=2, styles=["count", "relation"])
    data = [str(p) for p in paths.values()]
    kw = dict(max_new_tokens=12, progress=False)
    runs = {"bs8": evaluate(str(tmp_path / "m"), data, tmp_path / "bs8", batch_size=8, **kw),
            "bs1": evaluate(str(tmp_path / "m"), data, tmp_path / "bs1", batch_size=1, **kw)}  # fmt: skip

    real, calls = Generator.generate, []

    def killed_halfway(self, items, **k):
        calls.append(len(items))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, items, **k)

    monkeypatch.setattr(Generator, "generate", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        evaluate(str(tmp_path / "m"), data, tmp_path / "killed", batch_size=3, **kw)
    monkeypatch.setattr(Generator, "generate", real)
    assert len(read_predictions(tmp_path / "killed" / "predictions.jsonl")) == 3
    runs["killed"] = evaluate(str(tmp_path / "m"), data, tmp_path / "killed", batch_size=3, **kw)
    assert runs["killed"]["run"]["n_resumed"] == 3

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "grit.cli", "eval", "--model", str(tmp_path / "m"), "--data", ",".join(data), "--out",
           str(tmp_path / "two"), "--max-new-tokens", "12", "--batch-size", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs["2 processes"] = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert runs["2 processes"]["run"]["shards"] == 2

    folders = {"bs8": "bs8", "bs1": "bs1", "killed": "killed", "2 processes": "two"}
    want = by_key(tmp_path / "bs8" / "predictions.jsonl")
    for name, m in runs.items():
        assert m["datasets"] == runs["bs8"]["datasets"], name
        assert by_key(tmp_path / folders[name] / "predictions.jsonl") == want, name
