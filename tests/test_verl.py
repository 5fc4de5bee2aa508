"""GRPO-GR on verl: the reward function verl loads, the parquet export, and (marked ``verl``) verl itself.

The ``verl`` tests run verl's own loader and reward loop in the verl environment (``make verl-env`` builds
``.venv-verl``; ``GRIT_VERL_PYTHON`` names another interpreter) through tests/verl_driver.py, and compare
what verl computes with grit's reward computed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grit.boxes import Frame
from grit.integrations.verl import VerlRowError, compute_score, reward_weights
from grit.rewards import GRPO_GR_REWARDS, REGISTRY

ROOT = Path(__file__).resolve().parents[1]

# A 640x480 image: Qwen2.5-VL (GRIT's pixel budget) sees it resized to 504x392, InternVL3 in 0-1000.
WIDTH, HEIGHT = 640, 480
RESIZED = Frame.qwen_resized(WIDTH, HEIGHT, max_pixels=256 * 28 * 28)
GOOD = (
    '<think>Two dogs: {"bbox_2d": [10, 20, 100, 200], "label": "dog"} and {"bbox_2d": [200, 40, 300, 220], '
    '"label": "dog"} are on the grass.</think><rethink>So there are two dogs.</rethink><answer>2</answer>'
)
# Both boxes lie past the resized image's right edge (504) but inside the original 640 pixels.
OUTSIDE_RESIZED = GOOD.replace("[10, 20, 100, 200]", "[520, 20, 600, 200]").replace(
    "[200, 40, 300, 220]", "[530, 40, 630, 220]"
)


def _info(frame: Frame, **kw) -> dict:
    return {
        "index": 0,
        "dataset": "tallyqa",
        "question": "How many dogs are there?",
        "frame": frame.to_dict(),
        **kw,
    }


def test_frame_dict_round_trip_and_errors():
    assert Frame.from_dict(RESIZED.to_dict()) == RESIZED
    assert Frame.from_dict(json.loads(json.dumps(Frame.norm1000(7, 9).to_dict()))) == Frame.norm1000(7, 9)
    for bad, msg in [
        ({"kind": "norm"}, "'image_width' is missing"),
        ({**RESIZED.to_dict(), "kind": "polar"}, "'kind'"),
        ({**RESIZED.to_dict(), "extent_x": "wide"}, "'extent_x'"),
        ({**RESIZED.to_dict(), "extent_y": 0}, "'extent_y'"),
        ([1, 2], "mapping"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Frame.from_dict(bad)


def test_score_is_the_weighted_sum_of_grits_rewards_in_the_rows_frame():
    out = compute_score("tallyqa", GOOD, "2", _info(RESIZED))
    assert set(out) == {"score", *GRPO_GR_REWARDS}
    cols = {
        "answer": ["2"],
        "dataset": ["tallyqa"],
        "question": ["How many dogs are there?"],
        "frame": [RESIZED],
    }
    for name in GRPO_GR_REWARDS:
        fn = REGISTRY[name]
        assert out[name] == pytest.approx(fn([GOOD], **cols)[0]), name
    assert out["score"] == pytest.approx(sum(out[n] for n in GRPO_GR_REWARDS))
    assert out["grounded_target_counting"] == 1.0 and out["answer_accuracy"] == 1.0
    # the frame decides which boxes count: outside the resized image they are invalid, inside 0-1000 valid
    resized = compute_score("tallyqa", OUTSIDE_RESIZED, "2", _info(RESIZED))
    norm = compute_score("tallyqa", OUTSIDE_RESIZED, "2", _info(Frame.norm1000(WIDTH, HEIGHT)))
    assert resized["grounded_target_counting"] == 0.0 and resized["grounded_region_format"] == 0.0
    assert norm["grounded_target_counting"] == 1.0 and norm["grounded_region_format"] == 0.5


def test_reward_kwargs_choose_and_weigh_rewards():
    out = compute_score("x", GOOD, "2", _info(RESIZED), weights={"answer_accuracy": 3})
    assert out["score"] == pytest.approx(sum(out[n] for n in GRPO_GR_REWARDS) + 2 * out["answer_accuracy"])
    two = compute_score("x", GOOD, "2", _info(RESIZED), rewards="answer_accuracy, answer_format")
    assert set(two) == {"score", "answer_accuracy", "answer_format"} and two["score"] == pytest.approx(1.5)
    assert reward_weights(["repetition"], {"repetition": 0.5}) == (("repetition", 0.5),)
    with pytest.raises(Exception, match="unknown reward"):
        compute_score("x", GOOD, "2", _info(RESIZED), rewards=["nope"])
    with pytest.raises(Exception, match="leaves out"):
        compute_score("x", GOOD, "2", _info(RESIZED), rewards=["repetition"], weights={"answer_bleu": 1})


def test_choices_and_junk_completions():
    info = _info(RESIZED, dataset="mme", question="Is it red?", choices=("yes", "no"))
    assert compute_score("mme", "<answer>yes</answer>", "yes", info)["answer_accuracy"] == 1.0
    for junk in ["", None, "<answer>" * 1000, "\x00\xff"]:
        out = compute_score("mme", junk, "yes", info)
        assert all(isinstance(v, float) for v in out.values())


@pytest.mark.parametrize(
    ("info", "msg"),
    [
        ({"index": 12, "question": "q"}, "verl row 12 (data_source 'vsr'): extra_info has no 'frame'"),
        (None, "verl row None (data_source 'vsr'): extra_info has no 'frame'"),
        ({"id": "vsr_3", "frame": {"kind": "norm"}}, "verl row 'vsr_3' .*'image_width' is missing"),
    ],
)
def test_row_without_a_usable_frame_is_a_one_line_error(info, msg):
    with pytest.raises(VerlRowError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
        compute_score("vsr", GOOD, "yes", info)
    assert "\n" not in str(e.value)


def test_reward_side_imports_only_the_pure_core():
    code = (
        "import sys, grit.integrations.verl as v; "
        "v.compute_score('d', 'x', 'y', {'frame': {'kind': 'norm', 'image_width': 2, 'image_height': 2, "
        "'extent_x': 1000, 'extent_y': 1000}}); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'numpy', 'PIL', 'datasets', 'pyarrow') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------------ export


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from grit.data.shapes import generate_split

    d = tmp_path_factory.mktemp("shapes")
    return generate_split(d, 3, seed=2, styles=["count", "relation"])


@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_export_writes_verls_multimodal_layout(tmp_path, shapes, family):
    import pyarrow.parquet as pq

    from grit.data.schema import read_jsonl
    from grit.models import get_family

    fam = get_family(family)
    out = tmp_path / "train.parquet"
    from grit.integrations.verl import export_verl

    files = [shapes["count"], shapes["relation"]]
    assert export_verl(files, out, family) == 6
    rows = pq.read_table(out).to_pylist()
    recs = [r for f in files for r in read_jsonl(f)]
    assert [r["extra_info"]["index"] for r in rows] == list(range(6))
    for row, rec, src in zip(rows, recs, [f for f in files for _ in range(3)], strict=True):
        assert row["data_source"] == rec.dataset
        assert row["prompt"] == [{"role": "user", "content": "<image>" + fam.prompt(rec.question)}]
        (image,) = row["images"]
        assert image["bytes"] == rec.image_path(Path(src).parent).read_bytes()
        frame = Frame.from_dict(row["extra_info"]["frame"])
        assert frame == fam.frame_for(rec.width, rec.height)
        if fam.frame == "resized":  # verl hands these to qwen_vl_utils, which resizes to exactly this frame
            assert (image["min_pixels"], image["max_pixels"]) == (fam.min_pixels, fam.max_pixels)
        else:
            assert set(image) == {"bytes", "path"}
        assert row["reward_model"]["ground_truth"] == rec.answer
        assert row["extra_info"]["bboxs"] == [list(map(float, b)) for b in rec.bboxs]
        assert row["extra_info"]["question"] == rec.question
        score = compute_score(
            row["data_source"], "<answer>" + rec.answer + "</answer>", rec.answer, row["extra_info"]
        )
        assert score["answer_accuracy"] == 1.0


def test_export_cli_and_its_errors(tmp_path, shapes):
    from typer.testing import CliRunner

    from grit.cli import app

    out = tmp_path / "v.parquet"
    args = [
        "data",
        "export",
        str(shapes["count"]),
        "--to",
        "verl",
        "--out",
        str(out),
        "--family",
        "qwen2_5_vl",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "wrote 3 verl rows" in res.output and out.is_file()
    bad = tmp_path / "bad.jsonl"
    rec = json.loads(Path(shapes["count"]).read_text().splitlines()[0])
    bad.write_text(json.dumps({**rec, "image": "missing.png"}) + "\n")
    res = CliRunner().invoke(app, [*args[:2], str(bad), *args[3:]])
    assert res.exit_code == 1 and "field 'image'" in res.output and "missing.png" in res.output
    res = CliRunner().invoke(app, [*args[:4], "trl", *args[5:]])
    assert res.exit_code == 2


def test_export_without_pyarrow_names_it(monkeypatch, tmp_path, shapes):
    import builtins

    from grit.errors import GritUserError
    from grit.integrations.verl import export_verl

    real_import = builtins.__import__

    def no_pyarrow(name, *a, **k):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(GritUserError, match="needs pyarrow"):
        export_verl([shapes["count"]], tmp_path / "v.parquet", "qwen2_5_vl")
    assert not (tmp_path / "v.parquet").exists()


# ------------------------------------------------------------------------------------- verl itself


def verl_python() -> Path | None:
    """``GRIT_VERL_PYTHON``, else .venv-verl's python once ``make verl-env`` has finished it (its stamp file):
    a venv whose verl install failed half-way is no verl environment."""
    if os.environ.get("GRIT_VERL_PYTHON"):
        return Path(os.environ["GRIT_VERL_PYTHON"])
    venv = ROOT / ".venv-verl"
    return venv / "bin" / "python" if (venv / ".grit-installed").is_file() else None


@pytest.mark.verl
def test_verl_loads_and_its_reward_loop_scores_grits_reward(tmp_path, fixtures_dir, shapes):
    python = verl_python()
    if python is None:
        pytest.skip("no verl environment: `make verl-env` builds .venv-verl (or set GRIT_VERL_PYTHON)")
    tokenizer = fixtures_dir / "hf" / "Qwen__Qwen2.5-VL-3B-Instruct"
    norm = Frame.norm1000(WIDTH, HEIGHT)
    items = [
        {"data_source": "tallyqa", "completion": GOOD, "ground_truth": "2", "extra_info": _info(RESIZED)},
        {
            "data_source": "tallyqa",
            "completion": OUTSIDE_RESIZED,
            "ground_truth": "2",
            "extra_info": _info(RESIZED),
        },
        {
            "data_source": "tallyqa",
            "completion": OUTSIDE_RESIZED,
            "ground_truth": "2",
            "extra_info": _info(norm),
        },
        {
            "data_source": "vsr",
            "completion": "<think>The cat is left of the dog.</think><answer>no</answer>",
            "ground_truth": "yes",
            "extra_info": _info(RESIZED, index=3, dataset="vsr", question="Is the cat right of the dog?"),
        },
    ]
    kwargs = {"weights": {"answer_accuracy": 2.0}}
    from grit.integrations.verl import export_verl

    export_verl([shapes["count"]], tmp_path / "train.parquet", "qwen2_5_vl")
    job = {
        "parquet": str(tmp_path / "train.parquet"),
        "config_dir": str(ROOT / "configs" / "verl"),
        "config_name": "grit_qwen2_5_vl_3b",
        "tokenizer": str(tokenizer),
        "reward_kwargs": kwargs,
        "items": items,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    res = subprocess.run(
        [str(python), str(ROOT / "tests" / "verl_driver.py"), str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])

    assert out["unknown_config_keys"] == []  # every key of the example config is one verl 0.9.1 has
    expected = [
        compute_score(it["data_source"], it["completion"], it["ground_truth"], it["extra_info"], **kwargs)
        for it in items
    ]
    assert out["loader"] == [pytest.approx(e) for e in expected]
    assert out["manager_class"] == "NaiveRewardManager"
    for got, want in zip(out["manager"], expected, strict=True):
        assert got["score"] == pytest.approx(want["score"])
        for name in GRPO_GR_REWARDS:  # the parts reach verl's logged reward_extra_info
            assert got["extra"][name] == pytest.approx(want[name])
    # the frame each row carries decides the grounded rewards, inside verl too
    assert [m["extra"]["grounded_target_counting"] for m in out["manager"][:3]] == [1.0, 0.0, 1.0]
    # verl puts each score on the last real token of its response
    assert out["rm_scores"] == [
        [i, n - 1, pytest.approx(e["score"])]
        for i, (n, e) in enumerate(zip(out["response_lengths"], expected, strict=True))
        if e["score"]
    ]
    name, msg = out["no_frame_error"]
    assert name == "VerlRowError" and msg.startswith(
        "verl row 7 (data_source 'vsr'): extra_info has no 'frame'"
    )
    # verl's own RLHFDataset reads the export: the GRIT prompt after the image, whose entry carries the pixel
    # budget verl hands to qwen_vl_utils, and the frame in extra_info for the reward
    from grit.data.schema import read_jsonl
    from grit.models import get_family

    fam = get_family("qwen2_5_vl")
    recs = read_jsonl(shapes["count"])
    assert len(out["dataset"]) == len(recs)
    for row, rec in zip(out["dataset"], recs, strict=True):
        assert row["role"] == "user"
        assert row["content"] == [
            {"type": "image", "path": rec.image, "min_pixels": fam.min_pixels, "max_pixels": fam.max_pixels},
            {"type": "text", "text": fam.prompt(rec.question)},
        ]
        assert row["image_size"] == [[rec.width, rec.height]]
        assert Frame.from_dict(row["extra_info"]["frame"]) == fam.frame_for(rec.width, rec.height)
        assert row["score"]["answer_accuracy"] == 1.0
    heavy = {"grit.models", "grit.train", "grit.eval", "grit.data"}
    assert not heavy & set(out["grit_reward_imports"])
