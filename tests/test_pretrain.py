"""Shapes pretraining: a few steps on a tiny model, checkpoints, held-out eval, and exact resume."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from grit.data.shapes.world import ShapesConfig
from grit.train.pretrain import PretrainConfig, grow_depth, lr_at, new_layer_slots, pretrain, world_at


def _cfg(out, **kw):
    small = dict(
        size="tiny",
        batch_size=4,
        total_steps=6,
        warmup_steps=2,
        eval_every=3,
        ckpt_every=2,
        n_eval=3,
        threads=1,
    )
    return PretrainConfig(out_dir=str(out), **{**small, **kw})


def test_schedule_and_curriculum():
    c = PretrainConfig(total_steps=1000, warmup_steps=100, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, c) == pytest.approx(1e-5)
    assert lr_at(100, c) == pytest.approx(1e-3)
    assert lr_at(1000, c) == pytest.approx(1e-4)
    w = ShapesConfig()
    assert world_at(w, 0.05, True).max_objects == 2
    assert world_at(w, 0.2, True).max_objects == 3
    assert world_at(w, 0.5, True) == w and world_at(w, 0.0, False) == w


@pytest.mark.slow
def test_pretrain_resume_is_exact(tmp_path):
    straight = pretrain(_cfg(tmp_path / "a"), log=lambda s: None)
    pretrain(_cfg(tmp_path / "b"), stop_at_step=3, log=lambda s: None)
    assert torch.load(tmp_path / "b" / "state.pt", weights_only=False)["step"] == 3
    pretrain(_cfg(tmp_path / "b"), log=lambda s: None)
    sa = torch.load(straight / "state.pt", weights_only=False)
    sb = torch.load(tmp_path / "b" / "state.pt", weights_only=False)
    assert sa["step"] == sb["step"] == 6
    for k, v in sa["model"].items():
        assert torch.allclose(v, sb["model"][k], atol=1e-6), k
    log = [json.loads(x) for x in (straight / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6]
    assert {"iou", "count_acc", "train_minutes"} <= set(log[0])
    from grit.models.loading import load_model

    _, _, family = load_model(straight / "model")
    assert family == "qwen2_5_vl"


@pytest.mark.slow
def test_resume_refuses_different_settings(tmp_path):
    pretrain(_cfg(tmp_path), stop_at_step=2, log=lambda s: None)
    with pytest.raises(ValueError, match="batch_size"):
        pretrain(
            _cfg(tmp_path, batch_size=8),
            log=lambda s: None,
        )


@pytest.mark.slow
def test_second_stage_starts_from_the_first_and_records_it(tmp_path):
    first = pretrain(_cfg(tmp_path / "a", total_steps=2, eval_every=2), log=lambda s: None)
    w1 = torch.load(first / "state.pt", weights_only=False)["model"]
    mix = {"shape": 1.0}
    for src in (first, first / "model"):  # a run folder (its state.pt) or a model folder
        out = tmp_path / f"b-{src.name}"
        pretrain(_cfg(out, init_from=str(src), mix=mix), stop_at_step=0, log=lambda s: None)
        w2 = torch.load(out / "state.pt", weights_only=False)["model"]
        assert all(torch.equal(w1[k], w2[k]) for k in w1)  # step 0 of the second stage = the first's weights
        vocab = [
            json.loads((d / "tokenizer.json").read_text())["model"]["vocab"]
            for d in (out / "init", first / "init")
        ]
        assert vocab[0] == vocab[1]
        assert not list((out / "init").glob("*.safetensors"))  # init/ holds no weights
        assert json.loads((out / "pretrain_config.json").read_text())["init_from"] == str(src)
    with pytest.raises(FileNotFoundError, match="init-from"):
        pretrain(_cfg(tmp_path / "c", init_from=str(tmp_path / "nowhere")), log=lambda s: None)


@pytest.mark.slow
def test_frozen_init_vision_stays_at_the_random_initialisation(tmp_path):
    trained = pretrain(_cfg(tmp_path / "a", total_steps=3), log=lambda s: None)
    start = torch.load(trained / "state.pt", weights_only=False)["model"]
    out = pretrain(
        _cfg(tmp_path / "b", total_steps=3, init_from=str(trained), vision="frozen-init"), log=lambda s: None
    )
    end = torch.load(out / "state.pt", weights_only=False)["model"]
    torch.manual_seed(0)
    from transformers import AutoConfig, AutoModelForImageTextToText

    fresh = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(trained / "init")).state_dict()
    vis = [k for k in end if k.startswith("model.visual.")]
    lm = [k for k in end if k.startswith("model.language_model.layers.")]
    assert vis and lm
    assert all(torch.equal(end[k], fresh[k]) for k in vis)  # re-initialised, then never updated
    assert not all(torch.equal(end[k], start[k]) for k in vis)
    assert not all(torch.equal(end[k], start[k]) for k in lm)  # the language model did train
    with pytest.raises(ValueError, match="vision"):
        pretrain(_cfg(tmp_path / "c", vision="sometimes"), log=lambda s: None)


def test_new_layers_copy_the_layer_before_them_spread_through_the_depth():
    assert new_layer_slots(4, 4) == [0, 1, 2, 3]
    assert new_layer_slots(4, 8) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert new_layer_slots(4, 6) == [0, 1, 1, 2, 3, 3]
    assert new_layer_slots(4, 5) == [0, 1, 2, 3, 3]
    assert new_layer_slots(2, 7) == [0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="only grow"):
        new_layer_slots(4, 3)


def test_a_deepened_model_computes_what_the_shallow_one_did():
    from transformers import AutoModelForImageTextToText

    from grit.models.tiny import build_tiny

    small, _ = build_tiny("qwen2_5_vl", size="tiny", seed=0)
    old = small.config.text_config.num_hidden_layers
    # a trained model's output projections are not zero: make every layer matter
    with torch.no_grad():
        for p in small.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cfg = small.config.__class__.from_dict(small.config.to_dict())
    cfg.text_config.num_hidden_layers = old + 3
    cfg.text_config.layer_types = ["full_attention"] * (old + 3)
    big = AutoModelForImageTextToText.from_config(cfg)
    grown = grow_depth(small.state_dict(), old, old + 3)
    missing, unexpected = big.load_state_dict(grown, strict=False)
    assert not unexpected and all(k.startswith("lm_head") for k in missing)
    ids = torch.randint(10, small.config.text_config.vocab_size, (2, 12))
    with torch.no_grad():
        assert torch.equal(small.eval()(input_ids=ids).logits, big.eval()(input_ids=ids).logits)
    slots = new_layer_slots(old, old + 3)
    copies = [i for i in range(1, len(slots)) if slots[i] == slots[i - 1]]
    assert len(copies) == 3
    for i in copies:  # a copy writes nothing into the residual stream until training gives it work
        assert not grown[f"model.language_model.layers.{i}.self_attn.o_proj.weight"].any()
        assert not grown[f"model.language_model.layers.{i}.mlp.down_proj.weight"].any()
        assert grown[f"model.language_model.layers.{i}.self_attn.q_proj.weight"].any()


@pytest.mark.slow
def test_a_run_deepens_its_init_model_and_resumes_at_the_new_depth(tmp_path):
    first = pretrain(_cfg(tmp_path / "a", total_steps=2, eval_every=2), log=lambda s: None)
    old = json.loads((first / "init" / "config.json").read_text())["text_config"]["num_hidden_layers"]
    cfg = _cfg(
        tmp_path / "b", total_steps=4, eval_every=4, init_from=str(first / "model"), text_layers=old + 2
    )
    pretrain(cfg, stop_at_step=2, log=lambda s: None)
    text = json.loads((tmp_path / "b" / "init" / "config.json").read_text())["text_config"]
    assert text["num_hidden_layers"] == len(text["layer_types"]) == old + 2
    out = pretrain(cfg, log=lambda s: None)  # resumes at the new depth
    from grit.models.loading import load_model

    model, _, _ = load_model(out / "model")
    assert model.config.text_config.num_hidden_layers == old + 2
    with pytest.raises(ValueError, match="text_layers"):
        pretrain(_cfg(tmp_path / "c", text_layers=old + 1), log=lambda s: None)
    with pytest.raises(ValueError, match="text_layers"):  # the depth defines the run
        pretrain(replace(cfg, text_layers=old + 3), log=lambda s: None)


def test_log_truncation_and_folder_swap_survive_a_kill(tmp_path):
    from grit.train.pretrain import _swap_dir, _truncate_log

    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1000}\n{"step": 2000}\n')
    _truncate_log(log, 1500)
    assert log.read_text() == '{"step": 1000}\n'
    # a kill between the two renames left model.old and no model: the swap recovers and completes
    (tmp_path / "model.old").mkdir()
    (tmp_path / "model.old" / "a").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    _swap_dir(tmp_path / "new", tmp_path / "model")
    assert (tmp_path / "model" / "a").read_text() == "new" and not (tmp_path / "model.old").exists()


def test_sigterm_saves_the_finished_steps_like_ctrl_c(tmp_path, monkeypatch):
    """A background job ignores SIGINT; `kill` (SIGTERM) must still keep the steps since the last checkpoint."""
    import os
    import signal

    import grit.train.pretrain as pt

    real = pt.make_batch

    def make_batch(c, step, *a, **kw):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(c, step, *a, **kw)

    monkeypatch.setattr(pt, "make_batch", make_batch)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        pretrain(_cfg(tmp_path, ckpt_every=100, eval_every=100), log=lambda s: None)
    assert torch.load(tmp_path / "state.pt", weights_only=False)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_image_after_text_is_saved_with_the_model_and_defines_the_run(tmp_path):
    from grit.models.family import QWEN_CHAT_TEMPLATE_TEXT_FIRST
    from grit.models.loading import load_processor
    from grit.train.pretrain import Encoder

    out = pretrain(_cfg(tmp_path, image_after_text=True, total_steps=3), log=lambda s: None)
    for folder in (out / "init", out / "model"):
        processor = load_processor(folder, "qwen2_5_vl")
        assert processor.chat_template == QWEN_CHAT_TEMPLATE_TEXT_FIRST
    text = Encoder(processor).prompt_text("Locate every red square.")
    assert text.index("Locate every red square.") < text.index("<|vision_start|>")
    with pytest.raises(ValueError, match="image_after_text"):
        pretrain(_cfg(tmp_path, total_steps=4), log=lambda s: None)
    # the refused resume left the run's template alone
    assert load_processor(out / "init", "qwen2_5_vl").chat_template == QWEN_CHAT_TEMPLATE_TEXT_FIRST


def test_read_samples_are_text_only_and_answered_by_their_words(tmp_path):
    """Stage 4's "read" kind: a description and a question, no image; the loss runs on the answer only."""
    import random
    import re

    from grit.data.shapes.pretrain_mix import sample
    from grit.train.pretrain import make_batch

    world = ShapesConfig()
    group = rf"(\d+) ({'|'.join(world.colors)}) ({'|'.join(world.shapes)})"
    rng = random.Random(0)
    for _ in range(200):
        scene, user, answer = sample("read", rng, world)
        assert scene is None and "<think>" not in user + answer and "<|vision_start|>" not in user
        text, question = user.split("Question: ")
        if not text:  # the question first, then the description
            question, text = question.split("? ", 1)
        stated = {(c, s): int(n) for n, c, s in re.findall(group, text)}
        asked = [(c, s.rstrip("s")) for c, s in re.findall(rf"({'|'.join(world.colors)}) (\w+)", question)]
        total = sum(stated.get(k, 0) for k in asked)  # the description's words state the answer
        truth = ("yes" if total else "no") if question.startswith("Is") else str(total)
        assert answer == truth or answer.endswith(f", so the answer is {truth}."), user

    out = pretrain(_cfg(tmp_path, total_steps=1, eval_every=100), log=lambda s: None)
    from grit.models.loading import load_processor
    from grit.train.pretrain import Encoder

    enc = Encoder(load_processor(out / "init", "qwen2_5_vl"))
    c = _cfg(tmp_path, mix={"read": 1.0})
    kind, batch = make_batch(c, 0, ShapesConfig(), enc)
    assert kind == "read" and "pixel_values" not in batch
    vision_start = enc.tok.convert_tokens_to_ids("<|vision_start|>")
    assert not (batch["input_ids"] == vision_start).any()
    labelled = batch["labels"][batch["labels"] != -100]
    assert len(labelled) < batch["labels"].numel() / 4  # answers and end tokens only


def test_readpos_samples_are_answered_by_their_boxes_alone():
    """Stage 4c's "readpos" kind: where objects are, told only by the boxes of a grounded description (no
    image, and the words name no row or column), so the answer must be read off the coordinates."""
    import random
    import re

    from grit.chain import find_boxes
    from grit.data.shapes.pretrain_mix import sample

    world = ShapesConfig()
    relations = {"to the left of": (1, -1), "to the right of": (1, 1), "above": (0, -1), "below": (0, 1)}

    def beyond(a: tuple[int, int], b: tuple[int, int], rel: str) -> bool:
        axis, sign = relations[rel]
        return (a[axis] - b[axis]) * sign > 0

    rng = random.Random(1)
    styles = set()
    for _ in range(300):
        scene, user, target = sample("readpos", rng, world)
        assert scene is None and "<think>" not in user + target and "row" not in user
        cells: dict[str, list[tuple[int, int]]] = {}  # each label's grid cells (row, column), from its boxes
        for b in find_boxes(user):
            assert b.box is not None and b.label
            cells.setdefault(b.label, []).append((int(b.box.y1) // world.cell, int(b.box.x1) // world.cell))
        question = re.search(r"Question: (.*?\?)", user).group(1)
        if m := re.fullmatch(r"Where is the (\w+ \w+)\?", question):
            ((r, c),) = cells[m.group(1)]
            truth, styles = f"row {r + 1} column {c + 1}", styles | {"locate"}
            assert target in (truth, f"The {m.group(1)} is in {truth}.")
            continue
        if m := re.fullmatch(
            r"Is the (\w+ \w+) (?:on the|in the) (\w+) (?:side|part) of the image\?", question
        ):
            ((r, c),) = cells[m.group(1)]
            holds = {"left": c < 1, "right": c > 1, "top": r < 1, "bottom": r > 1}[m.group(2)]
            truth, styles = ("yes" if holds else "no"), styles | {"position"}
        elif m := re.fullmatch(r"Is the (\w+ \w+) (.+) the (\w+ \w+)\?", question):
            holds = beyond(cells[m.group(1)][0], cells[m.group(3)][0], m.group(2))
            truth, styles = ("yes" if holds else "no"), styles | {"relation"}
        else:
            m = re.fullmatch(r"What color is the (\w+) (.+) the (\w+ \w+)\?", question)
            ((ref),) = cells[m.group(3)]
            fits = [
                label.split()[0]
                for label, where in cells.items()
                if label.endswith(" " + m.group(1)) and label != m.group(3)
                for cell in where
                if beyond(cell, ref, m.group(2))
            ]
            assert len(fits) == 1
            truth, styles = fits[0], styles | {"attribute"}
        assert target == truth or target.endswith(f", so the answer is {truth}."), (user, target)
    assert styles == {"locate", "position", "relation", "attribute"}


def test_readbox_samples_look_each_named_object_up_before_the_reason():
    """Stage 5's "readbox" kind: a readpos sample whose target first copies, for each object the question
    names, its box out of the description and says which cell that box is in; then the readpos reason."""
    import random
    import re

    from grit.chain import find_boxes
    from grit.data.shapes.pretrain_mix import sample

    world = ShapesConfig()
    rng = random.Random(2)
    styles = set()
    for _ in range(200):
        scene, user, target = sample("readbox", rng, world)
        assert scene is None and "<think>" not in user + target and "row" not in user
        boxes = {}  # each label's boxes, as the description writes them
        for b in find_boxes(user):
            boxes.setdefault(b.label, []).append([int(v) for v in b.box.xyxy])
        looked = re.findall(
            r"The (\w+ \w+) is at \[(\d+), (\d+), (\d+), (\d+)\], in row (\d) column (\d)\. ", target
        )
        assert 1 <= len(looked) <= 2, target
        for label, *numbers in looked:
            box, (row, col) = [int(v) for v in numbers[:4]], (int(numbers[4]), int(numbers[5]))
            assert box in boxes[label]  # copied from the words, not seen
            assert (row, col) == (box[1] // world.cell + 1, box[0] // world.cell + 1)
        reason = re.sub(r"^(The \w+ \w+ is at \[[\d, ]+\], in row \d column \d\. )+", "", target)
        assert re.fullmatch(r"The .+, so the answer is \w+\.|The \w+ \w+ is in row \d column \d\.", reason)
        styles.add(re.search(r"Question: (\w+ \w+)", user).group(1))
    assert styles == {"Is the", "What color", "Where is"}


def test_labels_first_change_only_the_order_inside_each_box():
    import random
    import re

    from grit.chain import find_boxes
    from grit.data.shapes.pretrain_mix import KINDS, sample

    world = ShapesConfig()
    boxed = 0
    for kind in KINDS:
        a, b = random.Random(kind), random.Random(kind)
        for _ in range(20):
            scene, user, target = sample(kind, a, world)
            scene2, user2, target2 = sample(kind, b, world, label_first=True)
            assert scene2 == scene
            for qwen, first in ((user, user2), (target, target2)):
                assert '"label"' not in re.sub(r'\{"label": "[^"]*", "bbox_2d": \[[^\]]*\]\}', "", first)
                assert [(x.coords, x.label) for x in find_boxes(first)] == [
                    (x.coords, x.label) for x in find_boxes(qwen)
                ]
                assert sorted(first) == sorted(qwen)  # the same characters, moved
                boxed += qwen != first
    assert boxed > 100


def test_line_breaks_change_only_the_layout_and_only_when_asked():
    """``newlines`` lays user texts out on several lines (the GRIT prompt ends in one); at 0 the samples, and
    so earlier stages' runs, are exactly what they were."""
    import random

    from grit.data.shapes.pretrain_mix import KINDS, _sample, sample

    world = ShapesConfig()
    broken = 0
    for kind in KINDS:
        a, b, c = random.Random(kind), random.Random(kind), random.Random(kind)
        for _ in range(30):
            plain = _sample(kind, a, world)
            assert sample(kind, b, world) == plain  # no layout draw at 0
            scene, user, target = sample(kind, c, world, newlines=1.0)
            assert (scene, target) == (plain[0], plain[2])
            assert " ".join(user.split()) == " ".join(plain[1].split())
            broken += "\n" in user
            a.setstate(c.getstate())  # c made its layout draws: the next sample starts where c's does
            b.setstate(c.getstate())
    assert broken > 0.6 * 30 * len(KINDS)
