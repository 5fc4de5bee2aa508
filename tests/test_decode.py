"""grit's lean decode loop draws exactly the tokens Hugging Face ``generate`` draws, and steps aside otherwise."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from models_fixtures import scramble, tiny_model_dirs  # noqa: F401 - pytest fixture
from PIL import Image

import grit.models.decode as decode
import grit.models.generate as generate
from grit.demo import DEFAULT_BASE
from grit.models.generate import Generator, _collate, chat_prompt, prepare_item
from grit.models.loading import load_model

SHAPES_BASE = Path(__file__).resolve().parents[1] / DEFAULT_BASE
SIZES = [(64, 40), (100, 60), (56, 56), (120, 90), (80, 120), (40, 100), (90, 90), (60, 60)]
QUESTIONS = ["How many circles are there?", "Is the red square left of the blue circle?", "What color?"]


def _batch(model, processor, family, n=8):
    """A left-padded batch of ``n`` image questions with different image sizes (so different prompt lengths)."""
    gen = Generator(model, processor, family)
    colours = ["red", "green", "blue", "yellow", "purple", "white", "black", "orange"]
    encoded = []
    for i in range(n):
        item = {"image": Image.new("RGB", SIZES[i % 8], colours[i % 8]), "question": QUESTIONS[i % 3]}
        image, text, _ = prepare_item(item, gen.family, processor, "grit")
        encoded.append(processor(text=[chat_prompt(processor, text)], images=[image], return_tensors="pt"))
    batch = _collate(encoded, gen.tokenizer.pad_token_id)
    assert not batch["attention_mask"].all(), "the batch must be left-padded"
    return batch, gen.tokenizer.pad_token_id


def _eos_mid_sequence(model, batch, **kw) -> int:
    """A token the model writes in the middle of some rows: as the end token, rows finish at different
    steps, so the loop's dropping of finished rows is exercised."""
    torch.manual_seed(0)
    new = model.generate(**batch, max_new_tokens=16, **kw)[:, batch["input_ids"].shape[1] :]
    counts = torch.bincount(new[:, 2:12].reshape(-1))
    return int(counts.argmax())


@pytest.fixture(autouse=True)
def one_thread():
    """As grit decodes small models (decode_threads); on the shared 2-core machine it is also faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def lean_calls(monkeypatch):
    calls = []
    real = decode._decode

    def spy(*args, **kw):
        out = real(*args, **kw)
        calls.append(out.shape)
        return out

    monkeypatch.setattr(decode, "_decode", spy)
    return calls


SETTINGS = {
    "greedy": dict(do_sample=False),
    "T=1": dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0),
    "T=0.7, top-k, top-p, repetition penalty": dict(
        do_sample=True, temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.1
    ),
}


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_lean_loop_draws_the_tokens_of_generate(family, setting, tiny_model_dirs, lean_calls):  # noqa: F811
    model, processor, fam = load_model(tiny_model_dirs[family])
    model = scramble(model)
    batch, pad = _batch(model, processor, fam)
    kw = dict(SETTINGS[setting], pad_token_id=pad, suppress_tokens=[model.config.image_token_id])
    kw["eos_token_id"] = _eos_mid_sequence(model, batch, **kw)
    finished = 0
    for seed in (0, 1):
        torch.manual_seed(seed)
        want = model.generate(**batch, max_new_tokens=16, **kw)
        finished += int((want[:, batch["input_ids"].shape[1] :] == kw["eos_token_id"]).any(1).sum())
        after_hf = torch.rand(1)  # the random stream is left where generate leaves it
        torch.manual_seed(seed)
        got = decode.generate(model, **batch, max_new_tokens=16, **kw)
        assert torch.equal(got, want)
        assert torch.equal(torch.rand(1), after_hf)
    assert len(lean_calls) == 2, "the lean loop must have run"
    assert 0 < finished < 2 * len(want) - 1, "some rows finish early, some run on"


def test_finished_rows_leave_but_at_least_four_stay():
    t, f = True, False
    assert decode._still_needed(torch.tensor([t, t, t, t, t])) is None
    assert decode._still_needed(torch.tensor([f, t, f, t, t, t, f])).tolist() == [1, 3, 4, 5]
    assert decode._still_needed(torch.tensor([f, f, t, f, f, f])).tolist() == [0, 1, 2, 3]
    assert decode._still_needed(torch.tensor([f, t, f, f])) is None  # four rows or fewer: all stay
    assert decode._still_needed(torch.tensor([t, f, t, t, f])).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "family, extra",
    [
        ("internvl", {}),
        ("qwen2_5_vl", {"num_beams": 2}),
        ("qwen2_5_vl", {"output_scores": True, "return_dict_in_generate": True}),
        ("qwen2_5_vl", {"no_repeat_ngram_size": 2}),
        ("qwen2_5_vl", {"max_new_tokens": None}),
        ("qwen2_5_vl", {"pixel_values": None, "image_grid_thw": None}),
        ("qwen2_5_vl", {"right_padded": True}),
    ],
)
def test_other_calls_go_to_generate(family, extra, tiny_model_dirs, monkeypatch, lean_calls):  # noqa: F811
    model, processor, fam = load_model(tiny_model_dirs[family])
    batch, pad = _batch(model, processor, fam, n=2)
    if extra.get("pixel_values", 1) is None:  # a text-only prompt
        batch = {"input_ids": batch["input_ids"][:, -5:], "attention_mask": batch["attention_mask"][:, -5:]}
        extra = {}
    if extra.pop("right_padded", False):
        batch = {**batch, "attention_mask": batch["attention_mask"].flip(1)}
    kw = {"max_new_tokens": 4, "pad_token_id": pad, **batch, **extra}
    seen = []
    real = model.generate
    monkeypatch.setattr(model, "generate", lambda **k: seen.append(k) or real(**k))
    assert decode.plan(model, **kw) is None
    decode.generate(model, **kw)
    assert [set(k) for k in seen] == [set(kw)] and not lean_calls


def test_other_transformers_releases_and_dtypes_keep_generate(tiny_model_dirs, monkeypatch):  # noqa: F811
    from packaging.version import Version

    model, processor, fam = load_model(tiny_model_dirs["qwen2_5_vl"])
    batch, pad = _batch(model, processor, fam, n=2)
    assert decode.plan(model, **batch, max_new_tokens=4, pad_token_id=pad) is not None
    monkeypatch.setattr(decode, "TRANSFORMERS_FROM", Version("99.0"))
    assert decode.plan(model, **batch, max_new_tokens=4, pad_token_id=pad) is None
    monkeypatch.undo()
    assert decode.plan(model.to(torch.bfloat16), **batch, max_new_tokens=4, pad_token_id=pad) is None


def test_lean_generate_patches_generate_only_inside_the_block(tiny_model_dirs):  # noqa: F811
    model, _, _ = load_model(tiny_model_dirs["qwen2_5_vl"])
    assert "generate" not in vars(model)
    with decode.lean_generate(model):
        assert "generate" in vars(model)
    assert "generate" not in vars(model)


@pytest.mark.slow
def test_shipped_base_decodes_as_generate(tmp_path, lean_calls, monkeypatch):
    """The shipped shapes base: greedy answers on 40 held-out questions and seeded samples of the demo's
    GRPO batch (2 prompts x 8) are the same through the lean loop as through ``generate``."""
    from grit.data.shapes import balanced_train_set, generate_split
    from grit.eval.samples import load_samples

    model, processor, fam = load_model(SHAPES_BASE)
    gen = Generator(model, processor, fam)

    def items(paths):
        return [{"image": str(s.image_path), "question": s.record["question"]} for s in load_samples(paths)]

    held_out = items([str(p) for p in generate_split(tmp_path / "eval", 8, seed=1000).values()])[:40]
    train = items([str(balanced_train_set(tmp_path / "train", n=20, seed=0))])
    group = [train[0]] * 8 + [train[1]] * 8

    def run():
        greedy = gen.generate(held_out, batch_size=16, max_new_tokens=200)
        sampled = gen.generate(group, batch_size=16, max_new_tokens=200, temperature=1.0, seed=0)
        return [(r.text, r.n_new_tokens, r.finished) for r in greedy + sampled]

    lean = run()
    assert len(lean_calls) == 4
    monkeypatch.setattr(generate.decode, "plan", lambda *a, **k: None)
    assert lean == run()
    assert len({t for t, _, _ in lean}) > 20


@pytest.mark.slow
def test_grpo_steps_are_the_same_through_the_lean_loop(tmp_path, monkeypatch, lean_calls):
    """Two LoRA GRPO steps of the tiny model: the lean loop samples, and loss, rewards and KL come out as
    with TRL's own sampling."""
    from test_train import _tiny_cfg

    import grit.train.trainer as trainer_mod
    from grit.data.shapes import balanced_train_set
    from grit.models.tiny import build_tiny

    build_tiny("qwen2_5_vl", tmp_path / "m")
    train = balanced_train_set(tmp_path / "data", n=8, seed=0)

    def logs(tag):
        cfg = _tiny_cfg(tmp_path / "m", train, tmp_path / tag, ["lora_r=4", "grpo.max_steps=2"])
        trainer = trainer_mod.build_trainer(cfg)
        for n, p in trainer.model.named_parameters():  # LoRA B starts at zero: give the adapters an effect
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.5, generator=torch.Generator().manual_seed(0))
        trainer.train()
        keys = ("loss", "reward", "kl", "completions/mean_length")
        return [{k: h[k] for k in keys if k in h} for h in trainer.state.log_history]

    lean = logs("lean")
    assert len(lean_calls) == 2
    monkeypatch.setattr(trainer_mod, "lean_generate", lambda model: contextlib.nullcontext())
    assert logs("trl") == lean
