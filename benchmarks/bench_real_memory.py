"""What a real run needs: peak memory and time of Qwen2.5-VL-3B at its real dimensions (random weights, CPU).

The model is built from the real release files (``grit.models.release.build_from_release(full=True)``, bfloat16
weights), then measured in separate processes, each one's peak resident memory read from the kernel
(``os.wait4``, i.e. what ``/usr/bin/time -v`` reports):

1. ``build``: write the random-weight folder (skipped when it exists);
2. ``infer``: the ``grit infer`` command itself, a few new tokens, at GRIT's 256-visual-token budget;
3. ``train``: one GRPO-GR step with the paper's config (``configs/grit_qwen2_5_vl_3b.yaml``) cut to one prompt,
   two generations and short completions, LoRA, vision frozen; with and without gradient checkpointing.

Each process watches its own memory and stops at ``--limit-gb`` (the machine is shared); a phase does not start
unless that much memory is free.

    python benchmarks/bench_real_memory.py [--work /tmp/grit-full-3b] [--limit-gb 14] [--phases build,infer,train]

Results go to BENCHMARKS.md ("What a real run needs").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT.parent / "shared" / "fixtures" / "hf" / "Qwen__Qwen2.5-VL-3B-Instruct"
GRIT_MAX_PIXELS = 200704  # 256 visual tokens of 28x28 pixels
QUESTION = "How many red squares are there?"


def rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def available_gb() -> float:
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) / 2**20


def watch_memory(limit_gb: float) -> None:
    """Stop this process (exit 3) as soon as its resident memory passes ``limit_gb``."""

    def loop():
        while True:
            if rss_gb() > limit_gb:
                print(
                    f"memory guard: resident memory passed {limit_gb} GiB, stopping",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=loop, daemon=True).start()


def make_data(work: Path) -> Path:
    """One GRIT record: a 640x480 picture with two red squares (a TallyQA-style counting question)."""
    from PIL import Image, ImageDraw

    data = work / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(img)
    boxes = [[100, 120, 220, 240], [380, 200, 520, 340]]
    for b in boxes:
        draw.rectangle(b, fill="red")
    img.save(data / "images" / "squares.png")
    rec = {
        "question": QUESTION,
        "answer": "2",
        "image": "images/squares.png",
        "width": 640,
        "height": 480,
        "bboxs": boxes,
        "dataset": "tallyqa",
    }
    path = data / "train.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    return path


def phase_build(args) -> dict:
    from grit.models.release import build_from_release

    model = args.work / "model"
    if (model / "config.json").is_file() and any(model.glob("*.safetensors*")):
        return {"skipped": True}
    t = time.perf_counter()
    build_from_release(args.release, model, full=True, dtype="bfloat16")
    return {"build_s": round(time.perf_counter() - t, 1)}


def visual_tokens(model: Path, image: Path) -> dict:
    """Visual tokens of the benchmark image and of a few common sizes at GRIT's pixel budget."""
    from PIL import Image

    from grit.models.generate import chat_prompt
    from grit.models.loading import load_processor, set_pixel_budget

    proc = load_processor(model)
    set_pixel_budget(proc, None, GRIT_MAX_PIXELS)
    merge = proc.image_processor.merge_size**2
    out = {}
    for name, size in (("bench 640x480", None), ("1920x1080", (1920, 1080)), ("480x640", (480, 640))):
        img = Image.open(image).convert("RGB") if size is None else Image.new("RGB", size, "white")
        enc = proc(text=[chat_prompt(proc, "x")], images=[img], return_tensors="pt")
        out[name] = int(enc["image_grid_thw"].prod()) // merge
    return out


def phase_train(args, checkpointing: bool) -> dict:
    import torch
    from transformers import TrainerCallback

    from grit.train.config import load_config
    from grit.train.trainer import build_trainer

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.start = self.seconds = None

        def on_step_begin(self, a, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            self.seconds = time.perf_counter() - self.start

    train = make_data(args.work)
    overrides = [
        f"model={args.work / 'model'}",
        f"train_data={train}",
        "eval_data=[]",
        "image_root=null",
        f"output_dir={args.work / 'run'}",
        "dtype=bfloat16",
        "threads=2",
        "lora_r=16",
        "lora_alpha=32",
        "lora_target_modules=[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]",
        "completion_samples=0",
        "eval_every=0",
        "grpo.bf16=false",
        "grpo.use_cpu=true",
        "grpo.num_generations=2",
        "grpo.per_device_train_batch_size=2",
        "grpo.gradient_accumulation_steps=1",
        f"grpo.max_completion_length={args.completion_tokens}",
        "grpo.max_steps=1",
        "grpo.save_strategy=no",
        "grpo.report_to=none",
        f"grpo.gradient_checkpointing={str(checkpointing).lower()}",
    ]
    cfg = load_config(ROOT / "configs" / "grit_qwen2_5_vl_3b.yaml", overrides)
    t = time.perf_counter()
    timer = StepTimer()
    trainer = build_trainer(cfg, extra_callbacks=[timer])
    setup_s = time.perf_counter() - t
    rss_before = rss_gb()
    trainer.train()
    model = trainer.model
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lengths = [
        h.get("completions/mean_length") for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    return {
        "gradient_checkpointing": checkpointing,
        "setup_s": round(setup_s, 1),
        "step_s": round(timer.seconds, 1),
        "rss_after_load_gib": round(rss_before, 2),
        "params": n_all,
        "trainable_params": n_train,
        "completion_mean_length": lengths[-1] if lengths else None,
        "torch_threads": torch.get_num_threads(),
    }


def run_child(args, phase: str, extra: list[str] | None = None) -> dict:
    """Run one phase in its own process; its peak resident memory comes from the kernel (wait4)."""
    free = available_gb()
    if free < args.limit_gb:
        return {
            "phase": phase,
            "error": f"only {free:.1f} GB available, {args.limit_gb} GB needed; not started",
        }
    if phase == "infer":
        cmd = [
            sys.executable, "-m", "grit.cli", "infer",
            "--model", str(args.work / "model"),
            "--image", str(args.work / "data" / "images" / "squares.png"),
            "--question", QUESTION,
            "--max-new-tokens", str(args.new_tokens),
            "--max-pixels", str(GRIT_MAX_PIXELS),
            "--dtype", "bfloat16",
            "--no-png", "--json",
        ]  # fmt: skip
    else:
        cmd = [sys.executable, __file__, "--child", phase, "--work", str(args.work), "--release", str(args.release),
               "--limit-gb", str(args.limit_gb), "--completion-tokens", str(args.completion_tokens), *(extra or [])]  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    out_path, err_path = args.work / f"{phase}.out", args.work / f"{phase}.err"
    t = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
    if phase == "infer":  # the grit command has no guard of its own: watch it from here
        threading.Thread(target=_guard_child, args=(proc.pid, args.limit_gb), daemon=True).start()
    _, status, usage = os.wait4(proc.pid, 0)
    result = {
        "phase": phase,
        "wall_s": round(time.perf_counter() - t, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),  # ru_maxrss is in KiB on Linux
    }
    text = out_path.read_text()
    try:
        if phase == "infer":
            rec = json.loads(text[text.index("{") :])
            result.update({k: rec[k] for k in ("n_prompt_tokens", "n_new_tokens", "finished", "frame")})
        else:
            result.update(json.loads(text.strip().splitlines()[-1]))
    except (ValueError, IndexError, KeyError):
        result["stderr_tail"] = err_path.read_text()[-1500:]
    return result


def _guard_child(pid: int, limit_gb: float) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss = int(f.read().split()[1]) * page / 2**30
        except (FileNotFoundError, ProcessLookupError):
            return
        if rss > limit_gb:
            print(f"memory guard: grit infer passed {limit_gb} GiB, stopping it", file=sys.stderr, flush=True)
            os.kill(pid, 9)
            return
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, default=RELEASE)
    ap.add_argument("--work", type=Path, default=Path("/tmp/grit-full-3b"))
    ap.add_argument("--limit-gb", type=float, default=14.0)
    ap.add_argument("--phases", default="build,infer,train,train-nockpt")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--completion-tokens", type=int, default=16)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        watch_memory(args.limit_gb)
        if args.child == "build":
            res = phase_build(args)
        elif args.child == "tokens":
            res = visual_tokens(args.work / "model", make_data(args.work).parent / "images" / "squares.png")
        else:
            res = phase_train(args, checkpointing=args.child == "train")
        print(json.dumps(res))
        return
    make_data(args.work)
    results = []
    for phase in args.phases.split(","):
        res = run_child(args, phase)
        results.append(res)
        print(json.dumps(res), flush=True)
    if "tokens" not in args.phases:
        results.append(run_child(args, "tokens"))
        print(json.dumps(results[-1]), flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
