"""Batched generation: prompts, input order, batched == unbatched greedy, stopping, sampling, image errors."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
import torch
from models_fixtures import TINY_FAMILIES, scramble, tiny_model_dirs  # noqa: F401 - pytest fixture
from PIL import Image

import grit.models.generate as generate
from grit.boxes import Frame
from grit.demo import DEFAULT_BASE
from grit.models import get_family
from grit.models.generate import Generator, decode_threads, load_image, user_text
from grit.models.loading import load_model

SHAPES_BASE = Path(__file__).resolve().parents[1] / DEFAULT_BASE

QUESTIONS = [
    ((640, 354), "How many circles are there?"),
    ((100, 60), "Is the red square left of the blue circle in this image?"),
    ((1000, 1000), "What color is the triangle?"),
    ((200, 300), "Which shape is on top?"),
    ((300, 200), "Are there more squares than circles?"),
]


def _items():
    colours = ["red", "green", "blue", "yellow", "purple"]
    return [
        {"image": Image.new("RGB", size, colours[i]), "question": q} for i, (size, q) in enumerate(QUESTIONS)
    ]


def test_user_text_styles():
    fam = get_family("qwen2_5_vl")
    grit = user_text("How many?", fam, "grit")
    assert grit.startswith("Question: How many? First, think between <think>") and "'bbox_2d'" in grit
    assert "<box> and </box>" in user_text("How many?", get_family("internvl"), "grit")
    assert user_text("How many?", fam, "vanilla") == "How many?"
    assert user_text("How many?", fam, "Q: {question} Answer briefly.") == "Q: How many? Answer briefly."
    with pytest.raises(ValueError, match="prompt_style"):
        user_text("How many?", fam, "chain-of-thought")


def test_load_image_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match=r"bad\.png"):
        load_image(bad)
    assert load_image(Image.new("L", (5, 4))).mode == "RGB"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_batched_generation_keeps_input_order_and_equals_unbatched(family, tiny_model_dirs):  # noqa: F811
    model, processor, fam = load_model(tiny_model_dirs[family])
    gen = Generator(scramble(model), processor, fam)
    items = _items()
    batched = gen.generate(items, batch_size=3, max_new_tokens=6)
    single = [gen.generate([it], batch_size=1, max_new_tokens=6)[0] for it in items]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.n_prompt_tokens for r in batched] == [r.n_prompt_tokens for r in single]
    assert len({r.text for r in batched}) > 1, "scrambled model should answer differently per item"
    for r, (size, q) in zip(batched, QUESTIONS, strict=True):
        assert q in r.prompt and r.prompt.startswith("Question: ")
        assert (r.frame.image_width, r.frame.image_height) == size
        assert r.n_new_tokens == 6 and not r.finished
    if family == "internvl":
        assert batched[2].frame == Frame.norm1000(1000, 1000)


@pytest.mark.slow
def test_generation_stops_at_the_family_end_token(tiny_model_dirs):  # noqa: F811
    model, processor, _ = load_model(tiny_model_dirs["qwen2_vl"])
    plain = Generator(model, processor, "qwen2_vl").generate(_items()[:2], max_new_tokens=4)
    first = processor.tokenizer.convert_ids_to_tokens(
        processor.tokenizer(plain[0].text, add_special_tokens=False)["input_ids"][0]
    )
    # Pretend the model's first generated token is the family's end token: generation must stop there.
    fam = dataclasses.replace(get_family("qwen2_vl"), eos_token=first)
    model.generation_config.eos_token_id = None
    stopped = Generator(model, processor, fam).generate(_items()[:1], max_new_tokens=4)[0]
    assert stopped.finished and stopped.n_new_tokens == 1 and stopped.text == ""


@pytest.mark.slow
def test_sampling_is_reproducible_with_a_seed(tiny_model_dirs):  # noqa: F811
    model, processor, fam = load_model(tiny_model_dirs["qwen3_vl"])
    gen = Generator(scramble(model), processor, fam)
    items = _items()[:2]
    a = gen.generate(items, max_new_tokens=6, temperature=1.5, top_k=50, seed=3)
    b = gen.generate(items, max_new_tokens=6, temperature=1.5, top_k=50, seed=3)
    assert [r.text for r in a] == [r.text for r in b]
    custom = gen.generate([{**items[0], "prompt": "Describe the image."}], max_new_tokens=2)[0]
    assert custom.prompt == "Describe the image."


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_decode_threads_uses_one_thread_for_small_cpu_models_only(two_threads, monkeypatch):
    small = torch.nn.Linear(4, 4)
    with decode_threads(small):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), decode_threads(small):
        raise RuntimeError("generation failed")
    assert torch.get_num_threads() == 2, "the thread count comes back even when generation fails"
    monkeypatch.setattr(generate, "ONE_THREAD_MAX_PARAMS", 10)
    with decode_threads(small):
        assert torch.get_num_threads() == 2


@pytest.mark.slow
@pytest.mark.parametrize("family", [*TINY_FAMILIES, "shapes-base"])
def test_one_thread_decoding_gives_the_tokens_of_all_threads(family, tiny_model_dirs, two_threads, monkeypatch):  # noqa: F811
    """Greedy tokens are the same whichever thread count decodes (the demo's evaluations rely on it), and
    sampling with a seed too (the trainer samples on one thread)."""
    if family == "shapes-base":
        model, processor, fam = load_model(SHAPES_BASE)
    else:
        model, processor, fam = load_model(tiny_model_dirs[family])
        model = scramble(model)
    threads_seen = []
    real_generate = model.generate

    def spy(**kw):
        threads_seen.append(torch.get_num_threads())
        return real_generate(**kw)

    monkeypatch.setattr(model, "generate", spy)
    gen = Generator(model, processor, fam)
    kw = dict(batch_size=5, max_new_tokens=12)
    one = gen.generate(_items(), **kw) + gen.generate(_items(), temperature=1.0, seed=1, **kw)
    monkeypatch.setattr(generate, "decode_threads", lambda model: contextlib.nullcontext())
    two = gen.generate(_items(), **kw) + gen.generate(_items(), temperature=1.0, seed=1, **kw)
    assert threads_seen == [1, 1, 2, 2]
    assert [r.text for r in one] == [r.text for r in two]
    assert len({r.text for r in one}) > 1
