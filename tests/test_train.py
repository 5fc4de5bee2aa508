"""Training: config loading/validation, and short GRPO-GR runs on tiny models (slow), incl. kill-and-resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grit.train.config import GRPO_GR_REWARDS, ConfigError, grpo_kwargs, load_config, to_grpo_config

ROOT = Path(__file__).resolve().parents[1]


def _base(tmp_path, extra=()):
    return ["model=m", f"train_data={tmp_path}/t.jsonl", f"output_dir={tmp_path}/run", *extra]


def test_overrides_and_types(tmp_path):
    cfg = load_config(
        None,
        _base(
            tmp_path,
            [
                "grpo.learning_rate=1e-4",
                "grpo.beta=0.02",
                "lora_r=8",
                "rewards=answer_accuracy,grounded_reasoning_format",
                "reward_weights.answer_accuracy=2",
                "lora_target_modules=q_proj,v_proj",
            ],
        ),
    )
    assert cfg.grpo["learning_rate"] == pytest.approx(1e-4)
    assert cfg.lora_r == 8
    assert cfg.rewards == ["answer_accuracy", "grounded_reasoning_format"]
    assert cfg.lora_target_modules == ["q_proj", "v_proj"]
    args = to_grpo_config(cfg)
    assert args.learning_rate == pytest.approx(1e-4)
    assert args.beta == pytest.approx(0.02)
    assert args.reward_weights == [2.0, 1.0]
    assert args.remove_unused_columns is False


def test_bf16_without_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: bf16 is valid here")
    with pytest.raises(ConfigError, match="needs a GPU"):
        to_grpo_config(load_config(None, _base(tmp_path, ["grpo.bf16=true"])))


def test_override_values_keep_their_type(tmp_path):
    from grit.train.config import _coerce

    assert _coerce("1e-4") == pytest.approx(1e-4) and _coerce("3") == 3 and _coerce("true") is True
    assert _coerce("no") == "no"  # save_strategy=no must stay a string (YAML 1.1 would make it False)
    assert _coerce("none") is None and _coerce("[a, b]") == ["a", "b"] and _coerce("cosine") == "cosine"
    args = to_grpo_config(load_config(None, _base(tmp_path, ["grpo.save_strategy=no"])))
    assert args.save_strategy == "no"


def test_default_rewards_are_grpo_gr(tmp_path):
    assert load_config(None, _base(tmp_path)).rewards == GRPO_GR_REWARDS


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (["rewards=answer_accuracy,nope"], "unknown reward"),
        (["grpo.num_generations=3", "grpo.per_device_train_batch_size=8"], "divisible by num_generations"),
        (["grpo.not_an_option=1"], "unknown GRPOConfig option"),
        (["bogus=1"], "unknown config field"),
        (["reward_weights.repetition=2", "rewards=answer_accuracy"], "reward_weights"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, extra, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(None, _base(tmp_path, extra))


def test_missing_model_and_data():
    with pytest.raises(ConfigError, match="'model'"):
        load_config(None, ["train_data=x.jsonl"])
    with pytest.raises(ConfigError, match="'train_data'"):
        load_config(None, ["model=m"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["grit_qwen2_5_vl_3b.yaml", "grit_internvl3_2b.yaml"])
def test_paper_configs_reproduce_the_paper_setting(name):
    cfg = load_config(ROOT / "configs" / name)
    kw = grpo_kwargs(cfg)
    assert kw["bf16"] is True
    # every option is a real GRPOConfig field with a valid value (built with CPU precision here)
    args = to_grpo_config(load_config(ROOT / "configs" / name, ["grpo.bf16=false", "grpo.use_cpu=true"]))
    assert args.learning_rate == pytest.approx(2e-6)
    assert args.beta == pytest.approx(0.01)
    assert args.num_generations == 4
    assert args.max_completion_length == 1000
    assert args.max_steps == 200
    assert args.lr_scheduler_type == "cosine"
    assert args.temperature == pytest.approx(0.9)
    # total batch 128 = per device 4 x accumulation 4 x 8 GPUs
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps * 8 == 128
    assert cfg.freeze_vision is True
    assert cfg.rewards == GRPO_GR_REWARDS


def test_demo_and_tiny_configs_load():
    for name in ["demo.yaml", "tiny_cpu.yaml"]:
        args = to_grpo_config(load_config(ROOT / "configs" / name, ["train_data=t.jsonl"]))
        assert args.max_steps > 0


def test_accelerate_configs_are_valid_yaml():
    import yaml

    for p in (ROOT / "configs" / "accelerate").glob("*.yaml"):
        data = yaml.safe_load(p.read_text())
        assert data["num_processes"] >= 2
        assert data["distributed_type"] in {"MULTI_GPU", "DEEPSPEED"}


# ------------------------------------------------------------------------------------------- slow runs


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory):
    from grit.data.shapes import balanced_train_set, generate_split

    d = tmp_path_factory.mktemp("shapes")
    train = balanced_train_set(d, n=8, seed=0)
    tests = generate_split(d, 4, seed=1, styles=["count"])
    return train, tests["count"]


def _tiny_cfg(model_dir, train, out, extra=()):
    return load_config(
        None,
        [
            f"model={model_dir}",
            f"train_data={train}",
            f"output_dir={out}",
            "grpo.max_steps=4",
            "grpo.num_generations=4",
            "grpo.per_device_train_batch_size=8",
            "grpo.max_completion_length=24",
            "grpo.save_steps=2",
            "grpo.learning_rate=1e-4",
            "grpo.use_cpu=true",
            "grpo.gradient_checkpointing=false",
            "grpo.seed=0",
            *extra,
        ],
    )


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_grit_train_tiny_all_rewards(tmp_path, shapes_data, family):
    """`grit train` end to end on each family's tiny model, with every GRPO-GR reward and periodic eval."""
    from typer.testing import CliRunner

    from grit.cli import app
    from grit.models.tiny import build_tiny

    build_tiny(family, tmp_path / "m")
    train_path, test_path = shapes_data
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(ROOT / "configs" / "tiny_cpu.yaml"),
            f"model={tmp_path / 'm'}",
            f"train_data={train_path}",
            f"output_dir={tmp_path / 'run'}",
            f"eval_data={test_path}",
            "eval_every=2",
            "eval_max_new_tokens=16",
            "--grpo.max-completion-length",
            "24",
        ],
    )
    assert res.exit_code == 0, res.output
    final = tmp_path / "run" / "final"
    hist = json.loads((tmp_path / "run" / "log_history.json").read_text())
    logged = {k for h in hist for k in h}
    for r in GRPO_GR_REWARDS:
        assert f"rewards/{r}/mean" in logged
    assert any(k.startswith("eval_") and k.endswith("/acc") for k in logged)
    assert max(h.get("step", 0) for h in hist) == 4
    assert (final / "config.json").is_file()
    samples = [json.loads(x) for x in (tmp_path / "run" / "completions.jsonl").read_text().splitlines()]
    assert samples and {"step", "completion", "rewards"} <= set(samples[0])
    assert set(samples[0]["rewards"]) == set(GRPO_GR_REWARDS)
    from grit.models.loading import load_model

    load_model(final)  # the trained folder loads through the public entry point


def test_flags_become_overrides():
    from grit.cli import flags_to_overrides

    assert flags_to_overrides(["--lora-r", "16", "--grpo.learning-rate=1e-5", "beta=1"]) == [
        "lora_r=16",
        "grpo.learning_rate=1e-5",
        "beta=1",
    ]
    with pytest.raises(ValueError, match="needs a value"):
        flags_to_overrides(["--lora-r"])


@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_lora_adapts_only_unfrozen_layers(tmp_path, family):
    from grit.models.loading import load_model
    from grit.models.tiny import build_tiny
    from grit.train.trainer import lora_targets

    build_tiny(family, tmp_path / "m")
    model = load_model(str(tmp_path / "m"))[0]
    every = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    frozen_tower = lora_targets(model, every, vision=True, projector=False)
    whole = lora_targets(model, every, vision=False, projector=False)
    assert frozen_tower and all("language_model" in n for n in frozen_tower)
    # both families name some vision layers like the language model's, so a bare suffix would adapt them
    assert len(whole) > len(frozen_tower)
    with pytest.raises(ConfigError, match="lora_target_modules"):
        lora_targets(model, ["nope"], vision=True, projector=False)


@pytest.mark.slow
def test_lora_and_freezing(tmp_path, shapes_data):
    from grit.models.tiny import build_tiny
    from grit.train.trainer import build_trainer

    build_tiny("qwen2_5_vl", tmp_path / "m")
    train_path, _ = shapes_data
    trainer = build_trainer(_tiny_cfg(tmp_path / "m", train_path, tmp_path / "run", ["lora_r=4"]))
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any(".visual." in n for n in trainable)  # the frozen tower gets no adapters
    from grit.models.loading import load_model
    from grit.train.trainer import train

    final = train(
        _tiny_cfg(tmp_path / "m", train_path, tmp_path / "run-lora", ["lora_r=4", "grpo.max_steps=1"])
    )
    load_model(final)  # LoRA is merged: the final folder is a complete model
    trainer = build_trainer(
        _tiny_cfg(tmp_path / "m", train_path, tmp_path / "run2", ["freeze_projector=true"])
    )
    frozen = {n for n, p in trainer.model.named_parameters() if not p.requires_grad}
    assert any(".visual.blocks." in n for n in frozen) and any(".merger." in n for n in frozen)
    assert not any("language_model" in n for n in frozen)


@pytest.mark.slow
def test_lora_policy_samples_merged_and_trains_unmerged(tmp_path, shapes_data, monkeypatch):
    """Sampling runs on the merged adapters (same policy, one matmul per layer); training sees them unmerged
    and the base weights come back unchanged."""
    import torch
    from trl import GRPOTrainer

    from grit.models.tiny import build_tiny
    from grit.train.trainer import build_trainer, merged_lora

    build_tiny("qwen2_5_vl", tmp_path / "m")
    train_path, _ = shapes_data
    trainer = build_trainer(_tiny_cfg(tmp_path / "m", train_path, tmp_path / "run", ["lora_r=4"]))
    model = trainer.model
    for n, p in model.named_parameters():  # LoRA B starts at zero: give the adapters an effect to merge
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}
    ids = torch.tensor([[5, 9, 11, 14, 20, 21]])
    model.eval()
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        with merged_lora(trainer):
            assert _lora_layers(model) and all(m.merged for m in _lora_layers(model))
            merged = model(input_ids=ids).logits
    torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-4)
    assert not any(m.merged for m in _lora_layers(model))
    for n, p in model.named_parameters():
        if n in base:
            torch.testing.assert_close(p, base[n], rtol=0, atol=1e-6)

    states = []  # one training step: the adapters are merged while it samples and unmerged after
    real_generate = GRPOTrainer._generate_single_turn

    def spy(self, *a, **k):
        states.append([m.merged for m in _lora_layers(self.model)])
        return real_generate(self, *a, **k)

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", spy)
    model.train()
    trainer.args.max_steps = 1
    trainer.train()
    assert len(states) == 1 and all(states[0])
    assert not any(m.merged for m in _lora_layers(model))

    model.to(torch.bfloat16)  # a bfloat16 round trip would re-round every base weight: sample unmerged
    with merged_lora(trainer):
        assert not any(m.merged for m in _lora_layers(model))


def _lora_layers(model) -> list:
    return [m for m in model.modules() if getattr(m, "lora_A", None)]


class _Crash(Exception):
    pass


@pytest.mark.slow
def test_kill_and_resume_keeps_steps_and_checkpoints(tmp_path, shapes_data):
    from transformers import TrainerCallback

    from grit.models.tiny import build_tiny
    from grit.train.trainer import train

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise _Crash

    build_tiny("qwen2_5_vl", tmp_path / "m")
    train_path, _ = shapes_data
    out = tmp_path / "run"
    cfg = _tiny_cfg(tmp_path / "m", train_path, out)
    with pytest.raises(_Crash):
        train(cfg, extra_callbacks=[CrashAt()])
    assert (out / "checkpoint-2").is_dir() and not (out / "checkpoint-4").exists()
    train(cfg, resume=True)
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert (out / "checkpoint-2").is_dir()
    steps = [h["step"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
    assert steps[-1] == 4


@pytest.mark.parametrize(
    ("override", "field"),
    [("lora_r=abc", "lora_r"), ("grpo=5", "grpo"), ("freeze_vision=3", "freeze_vision")],
)
def test_wrong_field_types_fail_before_loading_anything(tmp_path, override, field):
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        load_config(None, _base(tmp_path, [override]))
