"""The demo's code path end to end, shortened: a tiny random model instead of the shipped base, 2 GRPO steps."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


@pytest.mark.slow
def test_demo_end_to_end_short(tmp_path):
    from grit.cli import app
    from grit.models.tiny import build_tiny

    build_tiny("qwen2_5_vl", tmp_path / "base", number_tokens="whole")
    out = tmp_path / "demo"
    res = CliRunner().invoke(
        app,
        ["demo", "--out", str(out), "--model", str(tmp_path / "base"), "--steps", "2", "--n-eval", "2",
         "--curve-every", "1", "--curve-n", "1"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # the before/after table per style, pooled row, sampled line and wall time
    assert "| **all** |" in res.output and "Sampled at T = 1" in res.output and "Wall time" in res.output
    summary = json.loads((out / "summary.json").read_text())
    for name in ["eval_base_direct", "eval_base", "eval_base_t1", "eval_after", "eval_after_t1"]:
        assert summary["metrics"][name]["datasets"]["all"]["n"] > 0
    assert (out / "report" / "report.md").is_file() and (out / "report" / "report.html").is_file()
    history = json.loads((out / "train" / "log_history.json").read_text())
    assert max(h.get("step", 0) for h in history) == 2
    assert summary["timings_s"]["total"] > 0

    # the learning curve: steps 0, 1, 2 on one question per style, the checkpoint at step 1 evaluated there
    curve = json.loads((out / "learning_curve.json").read_text())
    assert curve["steps"] == [0, 1, 2] and curve["n_subset"] == 7 and curve["n_full"] == 14
    step1 = json.loads((out / "eval_step1" / "metrics.json").read_text())["datasets"]["all"]
    assert step1["n"] == 7 and curve["points"][1]["subset"]["acc"] == step1["acc"]
    assert "Learning curve." in res.output and "## Learning curve" in (out / "report" / "report.md").read_text()
    assert (out / "report" / "plots" / "learning_curve.png").is_file()

    from grit.demo import seeds_table

    row = seeds_table([out]).splitlines()[2].split(" | ")
    after = summary["metrics"]["eval_after"]["datasets"]
    assert row[0] == "| demo" and row[1].startswith(f"{100 * after['all']['format_rate']:.1f} (")
    n_cut = sum(not json.loads(x)["finished"] for x in (out / "eval_after" / "predictions.jsonl").open())
    assert row[-1] == f"{n_cut} / {after['all']['n']} |"


def test_demo_rejects_unknown_ablation(tmp_path):
    from grit.demo import DemoOptions, run_demo

    with pytest.raises(ValueError, match="--ablate"):
        run_demo(DemoOptions(out=str(tmp_path), ablate="everything"))
