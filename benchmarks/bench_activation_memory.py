"""Training activation memory of Qwen2.5-VL-3B's language model per token and decoder layer (exact count, CPU).

The full-size GRPO step (bench_real_memory.py) gives one peak for one small batch; to scale to the paper's batch
this counts what a token costs in one decoder layer of the real widths (real config.json: hidden 2048, MLP 11008,
16 heads, 2 KV heads) during a training forward: the bytes of every tensor autograd saves for the backward pass
(``torch.autograd.graph.saved_tensors_hooks``, each storage counted once), at two depths, so the cost of one
more layer is exact and free of allocator effects. Random bfloat16 weights, text only; the lm_head logits are
left out (counted apart, on paper). LoRA as in the benchmark run (rank 16 on the attention and MLP projections,
dropout 0.05, peft's float32 adapters) and full fine-tuning of the language model (vision frozen).

    python benchmarks/bench_activation_memory.py [--tokens 512]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT.parent / "shared" / "fixtures" / "hf" / "Qwen__Qwen2.5-VL-3B-Instruct"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(release: Path, layers: int, mode: str):
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(str(release))
    config.text_config.num_hidden_layers = layers
    config.text_config.layer_types = ["full_attention"] * layers
    config.vision_config.depth = 1
    config.vision_config.fullatt_block_indexes = [0]
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.requires_grad_(False)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        names = [
            n
            for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and "visual" not in n and n.rsplit(".", 1)[-1] in LORA_TARGETS
        ]
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=names))
        model.enable_input_require_grads()
        return model.get_base_model().train()
    for n, p in model.named_parameters():
        if "visual" not in n:
            p.requires_grad_(True)
    return model.train()


def saved_bytes(model, tokens: int) -> int:
    """Bytes autograd keeps for the backward of one forward pass through the decoder layers."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        st = t.untyped_storage()
        seen[(st.data_ptr(), st.device.type)] = st.nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    ids = torch.randint(0, 150000, (1, tokens))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.model(input_ids=ids)
    return sum(n for (ptr, _), n in seen.items() if ptr not in params)  # weights are not activations


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", type=Path, default=RELEASE)
    ap.add_argument("--tokens", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for mode in ("full", "lora"):
        at = {layers: saved_bytes(build(args.release, layers, mode), args.tokens) for layers in (1, 3)}
        per_layer = (at[3] - at[1]) / 2 / args.tokens
        print(json.dumps({"mode": mode, "tokens": args.tokens, "saved_mib_1_layer": round(at[1] / 2**20, 1),
                          "saved_mib_3_layers": round(at[3] / 2**20, 1),
                          "kib_per_token_per_layer": round(per_layer / 1024, 1)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
