"""grit.eval.report: a report over two eval dirs (base vs trained) with deltas, gallery and plots."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from PIL import Image

from grit.eval.report import gallery_keys, load_run, plot_rewards, write_report
from grit.eval.score import score_predictions

SIZE = 84  # like the shapes world: the gallery must upscale it


def _chain(box: list[int] | None, answer: str) -> str:
    think = f"the object {json.dumps({'bbox_2d': box, 'label': 'disk'})}" if box else "no idea"
    return f"<think>{think}</think><rethink>checked</rethink><answer>{answer}</answer>"


def make_eval_dir(root: Path, name: str, trained: bool) -> Path:
    """An eval dir with 4 vsr-like and 2 counting predictions; the trained run answers and boxes better."""
    out = root / name
    out.mkdir(parents=True)
    (root / "img").mkdir(exist_ok=True)
    rows = []
    for i in range(6):
        dataset = "vsr" if i < 4 else "tallyqa"
        img = root / "img" / f"{i}.png"
        Image.new("RGB", (SIZE, SIZE), (40 * i, 120, 200)).save(img)
        gt = [10, 10, 40, 40]
        answer = "yes" if dataset == "vsr" else "1"
        pred_box = gt if trained else ([10, 10, 70, 70] if i % 2 else None)
        pred_answer = answer if trained or i == 0 else ("no" if dataset == "vsr" else "3")
        rows.append({"key": f"{dataset}/{i}", "dataset": dataset, "question": f"question {i}?", "answer": answer,
                     "image": f"img/{i}.png", "image_path": str(img), "width": SIZE, "height": SIZE,
                     "bboxs": [gt], "completion": _chain(pred_box, pred_answer),
                     "frame": {"kind": "pixels", "image_width": SIZE, "image_height": SIZE,
                               "extent_x": float(SIZE), "extent_y": float(SIZE)}})  # fmt: skip
    pred = out / "predictions.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score_predictions(pred, write=out / "metrics.json")
    return out


def test_report_two_runs(tmp_path):
    base = make_eval_dir(tmp_path, "base", trained=False)
    trained = make_eval_dir(tmp_path, "trained", trained=True)
    log = [{"step": s, "reward": 0.1 * s, "rewards/answer_reward/mean": 0.05 * s, "rewards/format/mean": 0.5}
           for s in range(1, 6)]  # fmt: skip
    md, page = write_report([base, trained], tmp_path / "rep", names=["base", "GRIT"], gallery_n=2,
                            training_log=log)  # fmt: skip
    assert md.is_file() and page.is_file()
    text = md.read_text()

    # Summary: both runs, the trained run's ACC with its delta (vsr: 25.0 -> 100.0).
    assert "ACC (%) · base" in text and "ACC (%) · GRIT" in text
    vsr_row = next(line for line in text.splitlines() if line.startswith("| vsr |"))
    assert "25.0" in vsr_row and "100.0 (+75.0)" in vsr_row
    # vsr GIoU: base 0, 900/3600, 0, 900/3600 -> mean 0.125; trained 1.0.
    assert "0.125" in vsr_row and "1.000 (+0.875)" in vsr_row
    assert "Most frequent answers" in text and "yes ×4" in text and "no ×3" in text
    assert "Beside the paper" in text and "72.9 / 0.325" in text  # vsr/tallyqa are paper benchmarks

    # Plots and gallery: the same samples for both runs, upscaled PNGs.
    assert (tmp_path / "rep" / "plots" / "acc_giou.png").is_file()
    assert (tmp_path / "rep" / "plots" / "rewards.png").is_file()
    for d in ("vsr", "tallyqa"):
        pngs = sorted((tmp_path / "rep" / "gallery" / d).glob("*.png"))
        assert [p.name for p in pngs] == ["00_GRIT.png", "00_base.png", "01_GRIT.png", "01_base.png"]
        with Image.open(pngs[0]) as im:
            assert im.size == (SIZE * 4, SIZE * 4)  # 384 // 84 = 4
    assert re.search(r"!\[base\]\(gallery/vsr/00_base.png\) \| !\[GRIT\]\(gallery/vsr/00_GRIT.png\)", text)

    html = page.read_text()
    assert html.count("<style>") == 1  # viz CSS once, not once per chain
    assert 'class="grit-box"' in html and 'src="gallery/vsr/00_GRIT.png"' in html
    assert "base" in html and "GRIT" in html and "(+75.0)" in html


def test_gallery_keys_shared_and_stable(tmp_path):
    a = load_run(make_eval_dir(tmp_path, "a", trained=False))
    b = load_run(make_eval_dir(tmp_path, "b", trained=True))
    keys = gallery_keys([a, b], "vsr", 3)
    assert len(keys) == 3 and keys == gallery_keys([b, a], "vsr", 3)  # independent of results
    del b.rows[keys[0]]
    assert keys[0] not in gallery_keys([a, b], "vsr", 3)[:2]  # shared keys come first


def test_report_errors_and_optional_parts(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no predictions\.jsonl"):
        write_report([tmp_path], tmp_path / "rep")
    run = make_eval_dir(tmp_path, "only", trained=True)
    (run / "metrics.json").unlink()  # recomputed from the predictions
    md, _ = write_report([run], tmp_path / "rep", gallery_n=0, paper=False, training_log=[{"loss": 1.0}])
    text = md.read_text()
    assert "Beside the paper" not in text and "(no reward keys in the log)" in text
    assert not (tmp_path / "rep" / "gallery").exists()
    assert plot_rewards([{"loss": 1.0}], tmp_path / "r.png") == [] and not (tmp_path / "r.png").exists()


def test_judge_score_beside_acc_in_both_renderings(tmp_path):
    """A graded judge (raw score 0.5 on correct vsr answers): ACC counts verdicts, judge score averages the
    raw score, and the paper's table shows the judge score, which is what Table 1 averages."""
    run = make_eval_dir(tmp_path, "graded", trained=True)
    half = lambda pred, answer, **_: pred == answer  # noqa: E731
    half.score = lambda pred, answer, **_: 0.5 if pred == answer else 0.0
    score_predictions(run / "predictions.jsonl", judge=half, write=run / "metrics.json")
    md, page = write_report([run], tmp_path / "rep", gallery_n=1)
    text, html = md.read_text(), page.read_text()
    assert "| ACC (%) | 100.0 |" in text and "| judge score (mean 0–1 score, %) | 50.0 |" in text
    assert "| this run: graded | 50.0 / 1.000 | 50.0 / 1.000 |" in text
    assert "<td>judge score (mean 0–1 score, %)</td><td>50.0</td>" in html
    # One document, two renderings: the same explanations, tables and gallery samples in both.
    for phrase in ("what the paper's Table 1 reports", "Cells are ACC / GIoU", "ground truth:", "tallyqa/"):
        assert phrase in text and unescape(html).count(phrase) == text.count(phrase), phrase
    assert "<b>graded</b>" in html  # the markdown's **bold** run name
