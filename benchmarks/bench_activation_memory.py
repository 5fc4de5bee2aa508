"""Training activation memory of Qwen2.5-VL-3B's language model per token and layer, measured on the CPU.

The full-size GRPO step (bench_real_memory.py) gives one peak for one batch. To scale to the paper's batch, this
measures what a token costs in one decoder layer of the real widths (hidden 2048, MLP 11008, 16 heads, 2 KV
heads, real config.json) during a training forward + backward: a model of the real widths but ``--layers``
decoder layers (random bfloat16 weights), text only, loss on the final hidden states (the logits are counted
apart, on paper). Each setting runs in a fresh process; its peak resident memory (kernel, ``wait4``) is taken at
two sequence lengths, and the difference divided by the extra tokens and the layers is the per-token, per-layer
cost (model, optimizer-free fixed costs and runtime cancel out).

    python benchmarks/bench_activation_memory.py [--layers 2] [--tokens 256,1024]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT.parent / "shared" / "fixtures" / "hf" / "Qwen__Qwen2.5-VL-3B-Instruct"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def child(args) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    torch.set_num_threads(2)
    config = AutoConfig.from_pretrained(str(args.release))
    config.text_config.num_hidden_layers = args.layers
    config.text_config.layer_types = ["full_attention"] * args.layers
    config.vision_config.depth = 1
    config.vision_config.fullatt_block_indexes = [0]
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.requires_grad_(False)
    if args.mode == "lora":
        from peft import LoraConfig, get_peft_model

        names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "visual" not in n
                 and n.rsplit(".", 1)[-1] in LORA_TARGETS]  # fmt: skip
        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=names)
        )
    else:  # full fine-tuning of the language model, as GRIT does (vision frozen)
        for n, p in model.named_parameters():
            if "visual" not in n:
                p.requires_grad_(True)
    model.train()
    if args.ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    ids = torch.randint(0, 150000, (1, args.tokens))
    base = model.get_base_model() if args.mode == "lora" else model
    hidden = base.model(input_ids=ids).last_hidden_state  # the decoder layers, without the lm_head logits
    hidden.float().square().mean().backward()
    print(json.dumps({"ok": True}))


def run(args, mode: str, ckpt: bool, tokens: int) -> float:
    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--tokens", str(tokens), "--layers", str(args.layers),
           "--release", str(args.release)] + (["--ckpt"] if ckpt else [])  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} ckpt={ckpt} tokens={tokens} failed: {proc.stderr.read().decode()[-1500:]}")
    return usage.ru_maxrss * 1024  # bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, default=RELEASE)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--tokens", default="256,1024")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="lora", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.tokens = int(args.tokens)
        child(args)
        return
    lo, hi = (int(t) for t in args.tokens.split(","))
    rows = []
    for mode in ("lora", "full"):
        for ckpt in (False, True):
            a, b = run(args, mode, ckpt, lo), run(args, mode, ckpt, hi)
            per_token = (b - a) / (
                hi - lo
            )  # all layers; with checkpointing: the layer inputs + one layer redone
            row = {"mode": mode, "ckpt": ckpt, f"peak_{lo}_gib": round(a / 2**30, 3),
                   f"peak_{hi}_gib": round(b / 2**30, 3), "kib_per_token": round(per_token / 1024, 1),
                   "kib_per_token_layer": round(per_token / args.layers / 1024, 1)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
