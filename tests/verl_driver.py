"""verl's own code calling grit's reward; run by tests/test_verl.py with the verl environment's python.

verl 0.9.1 pins transformers below the version grit runs on, so it lives in its own venv (``make verl-env``)
and this script is the part of the test that runs there. It reads a JSON job (argv[1]) and prints one JSON
result: whether the example config composes against verl's schema, what verl's custom-reward loader returns,
and what verl's reward loop (the worker its trainer uses, without ray) scores for real tokenised completions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def leaves(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in leaves(v, f"{prefix}{key}.")]
    return [prefix[:-1]]


def config_check(config_dir: str, name: str) -> tuple[object, list[str]]:
    """The composed config, and the keys of our file that verl's own ppo_trainer config does not have."""
    from hydra import compose, initialize_config_dir, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name=name)
    with initialize_config_module("verl.trainer.config", version_base=None):
        base = compose(config_name="ppo_trainer")
    ours = OmegaConf.to_container(OmegaConf.load(Path(config_dir) / f"{name}.yaml"))
    assert isinstance(ours, dict)
    ours.pop("hydra", None)
    ours.pop("defaults", None)
    known = set(leaves(OmegaConf.to_container(base, resolve=False)))  # "???" (must be set) values included
    return cfg, [k for k in leaves(ours) if k not in known]


def batch(tokenizer, items: list[dict]):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses ending in EOS."""
    import numpy as np
    import torch
    from verl import DataProto

    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": it["extra_info"]["question"]}],
            add_generation_prompt=True,
            tokenize=True,
        )
        for it in items
    ]
    prompts = [p["input_ids"] if isinstance(p, dict) or hasattr(p, "keys") else p for p in prompts]
    responses = [tokenizer(it["completion"])["input_ids"] + [tokenizer.eos_token_id] for it in items]
    pad = tokenizer.pad_token_id
    p_len, r_len = max(map(len, prompts)), max(map(len, responses)) + 3
    p_ids = torch.tensor([[pad] * (p_len - len(p)) + list(p) for p in prompts])
    r_ids = torch.tensor([list(r) + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * (len(p) + len(r)) + [0] * (r_len - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return DataProto.from_dict(
        tensors={
            "prompts": p_ids,
            "responses": r_ids,
            "input_ids": torch.cat([p_ids, r_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": obj([it["data_source"] for it in items]),
            "reward_model": obj([{"style": "rule", "ground_truth": it["ground_truth"]} for it in items]),
            "extra_info": obj([dict(it["extra_info"]) for it in items]),
        },
    ), [len(r) for r in responses]


def read_export(path: str, tokenizer, fn) -> list[dict]:
    """Rows of ``grit data export --to verl`` as verl's own RLHFDataset hands them to its rollout, each scored by
    the loaded reward with a completion that answers right. verl wants a processor there only for an assert and
    its patch size (the image processing needs torchvision, which this environment has not)."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    cfg = OmegaConf.create(
        {"filter_overlong_prompts": False, "image_key": "images", "cache_dir": str(Path(path).parent)}
    )
    processor = SimpleNamespace(image_processor=SimpleNamespace(patch_size=14))
    ds = RLHFDataset(path, tokenizer, cfg, processor=processor)
    rows = []
    for i in range(len(ds)):
        row = ds[i]
        (msg,) = row["raw_prompt"]
        gt = row["reward_model"]["ground_truth"]
        rows.append(
            {
                "role": msg["role"],
                "content": [
                    {k: v for k, v in c.items() if k not in ("image", "bytes")} for c in msg["content"]
                ],
                "image_size": [list(c["image"].size) for c in msg["content"] if c["type"] == "image"],
                "extra_info": row["extra_info"],
                "score": fn(
                    data_source=row["data_source"],
                    solution_str=f"<answer>{gt}</answer>",
                    ground_truth=gt,
                    extra_info=row["extra_info"],
                ),
            }
        )
    return rows


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    from omegaconf import open_dict

    cfg, unknown = config_check(job["config_dir"], job["config_name"])
    with open_dict(cfg):
        cfg.reward.custom_reward_function.reward_kwargs = job.get("reward_kwargs") or {}
        cfg.actor_rollout_ref.model.path = job["tokenizer"]
    out: dict = {"unknown_config_keys": unknown}

    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(cfg)
    items = job["items"]
    out["loader"] = [
        fn(
            data_source=it["data_source"],
            solution_str=it["completion"],
            ground_truth=it["ground_truth"],
            extra_info=it["extra_info"],
        )
        for it in items
    ]
    try:
        fn(
            data_source="vsr",
            solution_str="<answer>yes</answer>",
            ground_truth="yes",
            extra_info={"index": 7},
        )
        out["no_frame_error"] = None
    except Exception as e:  # the test checks which error and its message
        out["no_frame_error"] = [type(e).__name__, str(e)]

    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(cfg)
    data, lengths = batch(worker.input_tokenizer, items)
    results = worker.loop.run_until_complete(worker.compute_score_batch(data))
    rm = type(worker.reward_manager).assemble_rm_scores(data, [r["reward_score"] for r in results])
    out["manager"] = [{"score": r["reward_score"], "extra": r["reward_extra_info"]} for r in results]
    out["manager_class"] = type(worker.reward_manager).__name__
    out["rm_scores"] = [
        [int(i), int(j), float(rm[i, j])] for i, j in zip(*rm.nonzero(as_tuple=True), strict=True)
    ]
    out["response_lengths"] = lengths
    if job.get("parquet"):
        out["dataset"] = read_export(job["parquet"], worker.input_tokenizer, fn)
    modules = sys.modules
    out["grit_reward_imports"] = sorted(m for m in modules if m.startswith("grit"))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
