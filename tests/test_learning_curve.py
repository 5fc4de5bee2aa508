"""The demo's learning curve: checkpoint steps, the stratified held-out subset, the curve's numbers, table and
plot, and training checkpoints (LoRA adapters) loadable by every grit command."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from grit.boxes import Frame
from grit.data.shapes import generate_split
from grit.demo import curve_blocks, curve_steps, curve_subset, curve_table, learning_curve
from grit.eval.report import write_report
from grit.eval.run import evaluate
from grit.models.generate import GenerationResult


def test_curve_steps():
    assert curve_steps(150, 50) == [0, 50, 100, 150]
    assert curve_steps(100, 30) == [0, 30, 60, 90, 100]
    assert curve_steps(2, 1) == [0, 1, 2]
    assert curve_steps(50, 50) == [] and curve_steps(150, 0) == []  # no step between: no curve


def test_curve_subset_is_stratified_seeded_and_held_out(tmp_path):
    tests = generate_split(tmp_path, 8, seed=5, styles=["count", "relation", "exist"])
    a = curve_subset(tests, 3, seed=0)
    picks = {}
    for style, path in zip(tests, a, strict=True):
        lines = Path(path).read_text().splitlines()
        full = tests[style].read_text().splitlines()
        assert len(lines) == 3 and set(lines) <= set(full) and lines == sorted(lines, key=full.index)
        picks[style] = lines
    other = curve_subset(tests, 3, seed=1)
    assert any(Path(p).read_text().splitlines() != picks[s] for s, p in zip(tests, other, strict=True))
    assert curve_subset(tests, 3, seed=0) == a  # the same draw again
    assert all(Path(p).read_text().splitlines() == picks[s] for s, p in zip(tests, a, strict=True))
    assert curve_subset(tests, 0, seed=0) == [str(p) for p in tests.values()]
    assert curve_subset(tests, 99, seed=0) == [str(p) for p in tests.values()]


@dataclass
class ScriptedModel:
    """Answers every question the same way: right or wrong, in the GRIT format (boxing and naming the image's
    first object) or as a bare word."""

    records: dict[str, dict]
    right: bool
    grounded: bool

    def generate(self, items, **kw):
        out = []
        for it in items:
            rec = self.records[Path(it["image"]).name]
            answer = rec["answer"] if self.right else "wrong"
            text = answer
            if self.grounded:
                box = ""
                if rec["all_boxes"]:
                    box = json.dumps({"bbox_2d": rec["all_boxes"][0], "label": rec["all_labels"][0]})
                text = f"<think>I see {box}.</think><rethink>ok</rethink><answer>{answer}</answer>"
            frame = Frame("pixels", 84, 84, 84.0, 84.0)
            out.append(GenerationResult(text, "p", 1, 1, frame, True))
        return out


def records_by_image(tests: dict[str, Path]) -> dict[str, dict]:
    """The records of generated shapes sets by image file name (how a scripted model finds its question)."""
    records = {}
    for path in tests.values():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            records[Path(rec["image"]).name] = rec
    return records


def test_learning_curve_puts_every_step_on_the_same_questions(tmp_path):
    tests = generate_split(tmp_path / "data", 6, seed=2, styles=["count", "relation"])
    records = records_by_image(tests)
    subset = curve_subset(tests, 2, seed=0)
    full = [str(p) for p in tests.values()]
    run = tmp_path / "run"
    kw = dict(progress=False, max_new_tokens=8)
    evaluate(ScriptedModel(records, right=False, grounded=False), full, run / "eval_base", **kw)
    evaluate(ScriptedModel(records, right=True, grounded=True), subset, run / "eval_step1", **kw)
    evaluate(ScriptedModel(records, right=True, grounded=False), full, run / "eval_after", **kw)

    curve = learning_curve(run, [0, 1, 2], subset)
    assert curve["n_subset"] == 4 and curve["n_full"] == 12
    p0, p1, p2 = curve["points"]
    assert (p0["eval"], p1["eval"], p2["eval"]) == ("eval_base", "eval_step1", "eval_after")
    assert p0["subset"]["acc"] == 0.0 and p0["full"]["acc"] == 0.0 and p0["subset"]["format_rate"] == 0.0
    assert p1["subset"] == {"acc": 1.0, "giou": p1["subset"]["giou"], "format_rate": 1.0, "label_match_rate": 1.0}
    assert p1["full"] is None  # the intermediate steps are evaluated on the subset only
    assert p2["subset"]["acc"] == 1.0 and p2["full"]["acc"] == 1.0 and p2["full"]["format_rate"] == 0.0
    step1 = json.loads((run / "eval_step1" / "metrics.json").read_text())["datasets"]["all"]
    assert p1["subset"]["giou"] == step1["giou"]  # the same scoring as grit eval's

    header, rows = curve_table(curve)
    assert header[:3] == ["step", "ACC %", "chain GIoU"]
    assert rows[0][:2] == ["0", "0.0 · all: 0.0"] and rows[1][1] == "100.0" and rows[2][1] == "100.0 · all: 100.0"

    md, _ = write_report([run / "eval_base", run / "eval_after"], run / "report",
                         extra=curve_blocks(curve, run / "report"))  # fmt: skip
    text = md.read_text()
    assert "## Learning curve" in text and "| 1 | 100.0 |" in text and "(4 questions" in text
    assert (run / "report" / "plots" / "learning_curve.png").stat().st_size > 1000

    (run / "eval_step1" / "predictions.jsonl").write_text("")  # a step that lost its predictions
    with pytest.raises(ValueError, match="eval_step1: 0 of the curve's 4 questions"):
        learning_curve(run, [0, 1, 2], subset)


def test_adapter_folder_without_a_base_is_a_clear_error(tmp_path):
    from grit.models.loading import ModelLoadError, load_model

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4}))
    with pytest.raises(ModelLoadError, match="field 'base_model_name_or_path'"):
        load_model(tmp_path)


@pytest.mark.slow
def test_lora_checkpoints_load_as_merged_models(tmp_path):
    """A LoRA run's checkpoint-N (adapters only) loads through load_model with its base, merged: the last
    checkpoint's weights are the final merged model's."""
    import torch

    from grit.data.shapes import balanced_train_set
    from grit.models.loading import load_model
    from grit.models.tiny import build_tiny
    from grit.train.config import load_config
    from grit.train.trainer import train

    build_tiny("qwen2_5_vl", tmp_path / "m")
    train_path = balanced_train_set(tmp_path / "d", n=4, seed=0)
    cfg = load_config(None, [
        f"model={tmp_path / 'm'}", f"train_data={train_path}", f"output_dir={tmp_path / 'run'}", "lora_r=4",
        "grpo.max_steps=2", "grpo.save_steps=1", "grpo.save_total_limit=null", "grpo.num_generations=4",
        "grpo.per_device_train_batch_size=8", "grpo.max_completion_length=16", "grpo.learning_rate=1e-2",
        "grpo.use_cpu=true", "grpo.gradient_checkpointing=false", "grpo.seed=0",
    ])  # fmt: skip
    final = train(cfg)
    ckpt1, ckpt2 = tmp_path / "run" / "checkpoint-1", tmp_path / "run" / "checkpoint-2"
    assert (ckpt1 / "adapter_config.json").is_file() and not (ckpt1 / "config.json").exists()
    merged = load_model(final)[0].state_dict()
    last = load_model(ckpt2)[0].state_dict()
    first = load_model(ckpt1)[0].state_dict()
    base = load_model(tmp_path / "m")[0].state_dict()
    assert last.keys() == merged.keys() == base.keys()
    assert all(torch.allclose(last[k], merged[k], atol=1e-6) for k in merged)
    assert any(not torch.equal(first[k], base[k]) for k in base)  # step 1's adapter is applied
