"""``grit train`` with two processes: ``accelerate launch`` with configs/accelerate/cpu2.yaml (gloo on CPU) on a
tiny model, through tests/mp_train_driver.py, which spies on the rewards and on the files each rank writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grit.train.config import GRPO_GR_REWARDS

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(84, 84), (112, 56), (56, 140), (140, 84), (70, 112), (168, 56), (84, 126), (98, 98)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny Qwen2.5-VL and 8 training items whose images all have different sizes (so different frames)."""
    from PIL import Image

    from grit.data.schema import read_jsonl, write_jsonl
    from grit.data.shapes import balanced_train_set, generate_split
    from grit.models.tiny import build_tiny

    d = tmp_path_factory.mktemp("mp")
    build_tiny("qwen2_5_vl", d / "m")
    src = balanced_train_set(d, n=8, seed=0)
    recs = []
    for rec, (w, h) in zip(read_jsonl(src), SIZES, strict=True):
        path = rec.image_path(d)
        Image.open(path).resize((w, h)).save(path)
        sx, sy = w / rec.width, h / rec.height
        rec.bboxs = [[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for b in rec.bboxs]
        rec.width, rec.height = w, h
        recs.append(rec)
    write_jsonl(recs, d / "train.jsonl")
    evals = generate_split(d, 2, seed=1, styles=["count"])["count"]
    return d, {str(r.id): r for r in recs}, evals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(d: Path, out: Path, extra=(), crash_at: int = 0, resume: bool = False):
    """Run the driver under ``accelerate launch`` with 2 processes; returns (process, spy folder)."""
    spy = out.parent / f"{out.name}-spy{'-resume' if resume else ''}"
    spy.mkdir(parents=True)
    cmd = [
        *(sys.executable, "-m", "accelerate.commands.launch"),
        *("--config_file", str(ROOT / "configs" / "accelerate" / "cpu2.yaml")),
        *("--main_process_port", str(_free_port())),
        str(ROOT / "tests" / "mp_train_driver.py"),
        *("train", "--config", str(ROOT / "configs" / "tiny_cpu.yaml")),
        *(f"model={d / 'm'}", f"train_data={d / 'train.jsonl'}", f"output_dir={out}"),
        *("threads=1", "completion_samples=2", "grpo.per_device_train_batch_size=4"),
        *("grpo.max_completion_length=16", "grpo.seed=0", "grpo.save_steps=2", "grpo.max_steps=4"),
        f"rewards={','.join([*GRPO_GR_REWARDS, 'completion_length'])}",
        *extra,
    ]
    if resume:
        cmd.append("--resume")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "HF_HUB_OFFLINE": "1",
        "GRIT_SPY_DIR": str(spy),
        "GRIT_CRASH_AT_STEP": str(crash_at),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return proc, spy


def _spied(spy: Path, rank: int, reward: str = "grounded_region_format") -> list[dict]:
    path = spy / f"rank{rank}.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
    return [r for r in rows if r["reward"] == reward]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def lora_runs(setup, tmp_path_factory):
    """The same 2-process LoRA run twice (same seed), with evaluation every 2 steps."""
    d, _, evals = setup
    base = tmp_path_factory.mktemp("runs")
    extra = ["lora_r=4", f"eval_data={evals}", "eval_every=2", "eval_max_new_tokens=8", "eval_limit=2"]
    return [(base / name, *launch(d, base / name, extra)) for name in ("a", "b")]


def test_two_ranks_generate_and_rewards_see_each_items_frame(setup, lora_runs):
    from grit.models import get_family
    from grit.models.generate import frame_for_image
    from grit.models.loading import load_processor

    d, recs, _ = setup
    _, proc, spy = lora_runs[0]
    assert proc.returncode == 0, proc.stderr[-4000:]
    processor = load_processor(d / "m")
    family = get_family("qwen2_5_vl")
    seen: list[set[str]] = []
    for rank in (0, 1):
        calls = _spied(spy, rank)
        assert len(calls) == 4  # one reward call per step on each rank: both ranks generate
        assert all(c["completions"] and len(c["ids"]) == len(c["completions"]) for c in calls)
        for c in calls:
            for item, frame, size in zip(c["ids"], c["frames"], c["sizes"], strict=True):
                rec = recs[item]
                assert size == [rec.width, rec.height]
                assert frame == frame_for_image(family, processor, rec.width, rec.height).to_dict()
        seen.append({i for c in calls for i in c["ids"]})
    assert seen[0] and seen[1] and seen[0] | seen[1] != seen[0]  # the ranks train on different items


def test_loss_steps_and_rank0_alone_writes_the_run(setup, lora_runs):
    from grit.rewards import repetition

    d, _, _ = setup
    out, proc, spy = lora_runs[0]
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("trained model:") == 1  # printed once, not once per rank
    hist = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in hist if "loss" in h] == [1, 2, 3, 4]
    assert [h["step"] for h in map(json.loads, (out / "grounded_eval.jsonl").read_text().splitlines())] == [
        2,
        4,
    ]
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir()
    final = _weights(out / "final")  # LoRA merged into a complete model
    start = _weights(d / "m")
    assert final.keys() == start.keys()
    changed = {k for k in final if not (final[k] == start[k]).all()}
    assert changed and all("_proj." in k and "visual" not in k for k in changed)  # the adapted layers only
    samples = [json.loads(x) for x in (out / "completions.jsonl").read_text().splitlines()]
    assert len(samples) == 2 * 4  # 2 samples at each of the 4 logs, written by one process
    for s in samples:  # each sample sits beside its own reward
        assert s["rewards"]["repetition"] == pytest.approx(repetition([s["completion"]])[0])
    # Python-level opens for writing (JSON, config, processor files; torch.save and safetensors write from C++
    # and Rust, unseen): rank 1 writes none of the run's files, at most its own sampling state
    rank1 = json.loads((spy / "writes1.json").read_text())
    assert all(Path(p).name == "rng_state_1.pth" for p in rank1), rank1
    rank0 = json.loads((spy / "writes0.json").read_text())
    assert {"log_history.json", "completions.jsonl", "grounded_eval.jsonl", "final/config.json"} <= set(rank0)
    assert {"checkpoint-2/trainer_state.json", "checkpoint-4/trainer_state.json"} <= set(rank0)


def test_same_seed_same_run(lora_runs):
    (a, pa, _), (b, pb, _) = lora_runs
    assert pa.returncode == 0 and pb.returncode == 0, pb.stderr[-4000:]
    keys = ("loss", "reward", "rewards/repetition/mean", "completions/mean_length")

    def history(out):
        return [{k: h.get(k) for k in keys} for h in json.loads((out / "log_history.json").read_text())]

    assert history(a) == history(b)
    wa, wb = _weights(a / "final"), _weights(b / "final")
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_kill_and_resume_with_two_processes(setup, tmp_path):
    d, _, _ = setup
    out = tmp_path / "run"
    proc, _ = launch(d, out, crash_at=3)
    assert proc.returncode != 0 and "killed at step 3" in proc.stderr
    assert (out / "checkpoint-2").is_dir() and not (out / "checkpoint-4").exists()
    assert (out / "checkpoint-2" / "rng_state_1.pth").is_file()  # each rank's sampling state, for the resume
    proc, spy = launch(d, out, resume=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [len(_spied(spy, r)) for r in (0, 1)] == [2, 2]  # steps 3 and 4 only, on both ranks
    steps = [h["step"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
    assert steps == [1, 2, 3, 4]
