"""The ``grit`` command: each command on small inputs, and user errors as one ``error:`` line with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from grit.boxes import Box
from grit.cli import app
from grit.data.convert import validate_files
from grit.models import FAMILY_MODULES, get_family

runner = CliRunner()


def run(*args: str | Path, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def assert_user_error(result, *fragments: str) -> None:
    """Exit 1, one ``error:`` line on stderr naming the problem, no traceback anywhere."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an exception escaping the command
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ data convert


def test_convert_mathvista_testmini(fixtures_dir, tmp_path):
    data = fixtures_dir / "mathvista" / "data"
    out = tmp_path / "mathvista.jsonl"
    result = run(
        "data", "convert", "--from", "mathvista", data / "testmini.json", data / "query.json", "--out", out
    )
    assert result.exit_code == 0, result.output
    records = jsonl(out)
    n_source = len(json.loads((data / "testmini.json").read_text()))
    assert len(records) == n_source > 0
    assert f"wrote {n_source} mathvista records to {out}" in result.stdout
    assert validate_files([out], check_images=False) == []


def test_convert_opt_values_are_typed(fixtures_dir, tmp_path):
    testmini = fixtures_dir / "mathvista" / "data" / "testmini.json"
    out = tmp_path / "mv.jsonl"
    # Without query.json the converter refuses unless use_query is false; "false" must arrive as a bool.
    assert_user_error(run("data", "convert", "--from", "mathvista", testmini, "--out", out), "query")
    result = run("data", "convert", "--from", "mathvista", testmini, "--out", out, "--opt", "use_query=false")
    assert result.exit_code == 0, result.output
    assert all(r["question"] for r in jsonl(out))
    assert_user_error(
        run("data", "convert", "--from", "mathvista", testmini, "--out", out, "--opt", "use_query=maybe"),
        "use_query=maybe",
    )
    assert_user_error(
        run("data", "convert", "--from", "mathvista", testmini, "--out", out, "--opt", "colour=red"),
        "unknown option",
    )


def test_convert_viscot_with_det_file(fixtures_dir, tmp_path):
    root = fixtures_dir / "viscot" / "viscot_benchmark"
    out = tmp_path / "viscot.jsonl"
    result = run(
        "data", "convert", "--from", "viscot", root / "benchmark" / "vsr.json",
        root / "benchmark_det" / "vsr.jsonl", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all(r["bboxs"] for r in jsonl(out))


def test_convert_list_and_errors(tmp_path):
    from grit.data.convert import CONVERTERS

    result = run("data", "convert", "--list")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == list(CONVERTERS)
    assert_user_error(
        run("data", "convert", "--from", "nope", "x.json", "--out", tmp_path / "o.jsonl"), "nope"
    )
    assert_user_error(run("data", "convert", "x.json", "--out", tmp_path / "o.jsonl"), "--from")
    missing = tmp_path / "missing.json"
    assert_user_error(
        run("data", "convert", "--from", "mathvista", missing, "--out", tmp_path / "o.jsonl"), str(missing)
    )


def test_bad_field_deep_in_a_record_is_one_located_line(fixtures_dir, tmp_path):
    """A Visual-CoT ``conversations`` that is a string: file, record and field on one line, no traceback."""
    root = fixtures_dir / "viscot/viscot_benchmark"
    items = json.loads((root / "benchmark/vsr.json").read_text())
    items[1]["conversations"] = "not a list"
    bench = tmp_path / "vsr.json"
    bench.write_text(json.dumps(items))
    det = root / "benchmark_det/vsr.jsonl"
    result = run("data", "convert", "--from", "viscot", bench, det, "--out", tmp_path / "o.jsonl")
    assert_user_error(result, str(bench), "record 1 (question_id", "field 'conversations'", "expected a list")
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("target", ["dir", "empty"])
def test_unreadable_or_empty_inputs_are_one_line(tmp_path, target):
    src = tmp_path / "test.jsonl"
    src.mkdir() if target == "dir" else src.write_text("\n\n")
    result = run("data", "convert", "--from", "vsr", src, "--out", tmp_path / "o.jsonl")
    assert_user_error(result, str(src), "cannot read file" if target == "dir" else "empty file")


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    """Only grit's user errors become one line: a ValueError from a bug escapes with its traceback."""
    from grit.data import convert

    def broken(*paths, image_root=None):
        raise ValueError("a bug, not bad input")

    monkeypatch.setitem(convert.CONVERTERS, "vsr", broken)
    src = tmp_path / "test.jsonl"
    src.write_text("{}\n")
    result = run("data", "convert", "--from", "vsr", src, "--out", tmp_path / "o.jsonl")
    assert isinstance(result.exception, ValueError) and "error:" not in result.stderr
    # and the real command prints it: run the console entry in a fresh interpreter with the same patch
    code = (
        "import sys; from grit.data import convert\n"
        "def broken(*p, image_root=None): raise ValueError('a bug, not bad input')\n"
        "convert.CONVERTERS['vsr'] = broken\n"
        f"sys.argv = ['grit', 'data', 'convert', '--from', 'vsr', {str(src)!r}, '--out', 'o.jsonl']\n"
        "from grit.cli import main; main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ValueError: a bug, not bad input" in proc.stderr


# ----------------------------------------------------------------------------------------- data validate


def write_records(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


GOOD = {
    "question": "Is it red?",
    "answer": "yes",
    "image": "a.png",
    "width": 8,
    "height": 6,
    "bboxs": [[1, 1, 4, 4]],
}


def test_validate_good_and_bad_files(tmp_path):
    Image.new("RGB", (8, 6)).save(tmp_path / "a.png")
    good = write_records(tmp_path / "good.jsonl", [GOOD, GOOD])
    result = run("data", "validate", good)
    assert result.exit_code == 0, result.output
    assert "2 records" in result.stdout

    no_width = {k: v for k, v in GOOD.items() if k != "width"}
    bad = write_records(tmp_path / "bad.jsonl", [GOOD, no_width])
    result = run("data", "validate", good, bad)
    assert result.exit_code == 1
    assert f"{bad}:2: field 'width'" in result.stdout
    assert str(good) not in result.stdout  # only the bad file is reported
    assert result.stderr.strip() == "error: 1 error(s) in 1 of 2 file(s)"


def test_validate_image_check_can_be_skipped(tmp_path):
    data = write_records(tmp_path / "d.jsonl", [GOOD])  # a.png does not exist
    result = run("data", "validate", data)
    assert result.exit_code == 1
    assert f"{data}:1: field 'image'" in result.stdout
    assert run("data", "validate", data, "--no-check-images").exit_code == 0


# ------------------------------------------------------------------------------------------- data shapes


def test_shapes_test_sets_and_train_set(tmp_path):
    out = tmp_path / "shapes"
    args = [
        "data",
        "shapes",
        "--out",
        out,
        "--n-per-style",
        "3",
        "--styles",
        "count,relation",
        "--train",
        "4",
    ]
    result = run(*args, "--seed", "1")
    assert result.exit_code == 0, result.output
    for name, n in (("test_count", 3), ("test_relation", 3), ("train", 4)):
        path = out / f"{name}.jsonl"
        assert str(path) in result.stdout
        records = jsonl(path)
        assert len(records) == n
        assert all((out / r["image"]).is_file() for r in records)
    assert validate_files(sorted(out.glob("*.jsonl"))) == []
    first = (out / "test_count.jsonl").read_bytes()
    assert run(*args, "--seed", "1").exit_code == 0
    assert (out / "test_count.jsonl").read_bytes() == first  # seeded


def test_shapes_world_options(tmp_path):
    out = tmp_path / "big"
    result = run(
        "data", "shapes", "--out", out, "--n-per-style", "2", "--styles", "count", "--image-size", "112",
        "--grid", "4", "--max-objects", "3", "--colors", "red,blue", "--shapes", "triangle",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for r in jsonl(out / "test_count.jsonl"):
        assert (r["width"], r["height"]) == (112, 112)
        assert r["n_objects"] <= 3
        assert "triangle" in r["question"]
    assert_user_error(run("data", "shapes", "--out", out, "--styles", "nope"), "nope")
    assert_user_error(run("data", "shapes", "--out", out, "--grid", "5"), "grid")
    assert_user_error(run("data", "shapes", "--out", out, "--colors", "mauve"), "mauve")


# ------------------------------------------------------------------------------------------------ models


def test_models_list_shows_every_family():
    result = run("models", "list", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in FAMILY_MODULES:
        fam = get_family(name)
        row = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
        assert fam.model_class in row and fam.frame in row and fam.box_style in row


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random Qwen2.5-VL built by ``grit models tiny``: (folder, command result)."""
    out = tmp_path_factory.mktemp("models") / "tiny-qwen2_5_vl"
    return out, run("models", "tiny", "--family", "qwen2_5_vl", "--out", out)


@pytest.mark.slow
def test_models_tiny_builds_a_loadable_folder(tiny_model):
    from grit.models import detect_family

    out, result = tiny_model
    assert result.exit_code == 0, result.output
    assert f"to {out}" in result.stdout
    assert (out / "config.json").is_file()
    assert detect_family(out) == "qwen2_5_vl"


def test_models_tiny_rejects_unknown_family(tmp_path):
    result = run("models", "tiny", "--family", "gpt2", "--out", tmp_path / "m")
    assert result.exit_code == 2 and "gpt2" in result.output
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------------------------- infer


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "scene.png"
    Image.new("RGB", (200, 100), (30, 60, 200)).save(path)
    return path


@pytest.mark.slow
def test_infer_json_end_to_end(tiny_model, image, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = tiny_model
    result = run(
        "infer",
        "--model",
        model,
        "--image",
        image,
        "--question",
        "How many?",
        "--json",
        "--max-new-tokens",
        "6",
    )
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)  # nothing but the JSON record on stdout
    assert rec["question"] == "How many?"
    assert rec["family"] == "qwen2_5_vl"
    assert rec["image"]["width"] == 200 and rec["image"]["height"] == 100
    assert 1 <= rec["n_new_tokens"] <= 6
    default_png = Path("scene.grit.png")  # default: <image stem>.grit.png in the current folder
    assert rec["written"]["png"] == str(default_png)
    with Image.open(tmp_path / default_png) as im:
        assert im.size == (200, 100)


@pytest.mark.slow
def test_infer_prints_chain_and_box_table(tiny_model, image, tmp_path, monkeypatch):
    """A fixed completion (one valid box, one 3-number box) instead of the random model's output."""
    from grit.models.generate import GenerationResult, Generator

    completion = (
        '<think>The sky {"bbox_2d": [10, 20, 110, 60], "label": "sky"} and {"bbox_2d": [1, 2, 3]}.</think>'
        "<rethink>One sky.</rethink><answer>one</answer>"
    )

    def fake_generate(self, items, **kwargs):
        img = items[0]["image"]
        frame = self.family.frame_for(img.width, img.height)
        return [GenerationResult(completion, "prompt", 10, 30, frame, True)]

    monkeypatch.setattr(Generator, "generate", fake_generate)
    model, _ = tiny_model
    png, html = tmp_path / "out" / "boxes.png", tmp_path / "chain.html"
    args = ["infer", "--model", model, "--image", image, "--question", "Q?", "--out-png", png, "--html", html]
    result = run(*args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "One sky." in out and "answer: one" in out
    frame = get_family("qwen2_5_vl").frame_for(200, 100)
    x1, y1, x2, y2 = frame.to_pixels(Box(10, 20, 110, 60)).xyxy
    assert (x1, x2) != (10, 110)  # 200x100 is resized to 196x112: the table must show both coordinates
    sky_row = next(
        line
        for line in out.splitlines()
        if "sky" in line and "10, 20, 110, 60" in line and "bbox_2d" not in line
    )
    assert f"{round(x1, 2):g}, {round(y1, 2):g}" in sky_row and "yes" in sky_row
    assert any("1, 2, 3" in line and "no:" in line for line in out.splitlines())
    assert f"wrote png: {png}" in out and png.is_file() and html.is_file()

    rec = json.loads(run(*args, "--json").stdout)
    assert [b["valid"] for b in rec["boxes"]] == [True, False]
    assert rec["boxes"][0]["label"] == "sky"
    assert rec["boxes"][0]["box"] == [round(v, 2) for v in (x1, y1, x2, y2)]


def test_infer_missing_image(tmp_path):
    assert_user_error(
        run("infer", "--model", tmp_path, "--image", tmp_path / "nope.png", "--question", "q"), "nope.png"
    )


def test_infer_unreadable_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert_user_error(run("infer", "--model", tmp_path, "--image", bad, "--question", "q"), "bad.png")


def test_infer_unknown_model(tmp_path, image):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run("infer", "--model", empty, "--image", image, "--question", "q"), "config.json")
    assert_user_error(
        run("infer", "--model", "no-such-org/no-such-model", "--image", image, "--question", "q"),
        "no-such-org/no-such-model",
    )


@pytest.mark.parametrize(
    "item, message", [("bogus=1", "KIND one of"), ("shape", "KIND=WEIGHT"), ("shape=lots", "not a number")]
)
def test_pretrain_shapes_rejects_a_bad_mix_item(tmp_path, item, message):
    res = CliRunner().invoke(app, ["pretrain-shapes", "--out", str(tmp_path / "run"), "--mix", item])
    assert res.exit_code != 0
    assert message in " ".join(res.output.split()) and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_pretrain_shapes_options_reach_the_run_config(tmp_path):
    """--max-objects, --image-after-text, --newlines and a --mix that keeps one kind are what the run records."""
    out = tmp_path / "run"
    args = ["pretrain-shapes", "--out", str(out), "--size", "tiny", "--steps", "2", "--eval-every", "2"]
    args += ["--max-objects", "3", "--image-after-text", "--threads", "1", "--batch-size", "2", "--newlines", "0.3"]
    for kind in ("direct", "caption", "tag", "wholechain", "tagcap"):
        args += ["--mix", f"{kind}=0"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "pretrain_config.json").read_text())
    assert cfg["world"] == {"max_objects": 3} and cfg["image_after_text"] is True and cfg["newlines"] == 0.3
    assert cfg["mix"] == {"ground": 0.28}


@pytest.mark.slow
def test_pretrain_shapes_stop_at_step_keeps_the_schedule_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["pretrain-shapes", "--out", str(out), "--size", "tiny", "--steps", "4", "--eval-every", "2"]
    args += ["--threads", "1", "--batch-size", "2", "--mix", "read=0.5"]
    res = CliRunner().invoke(app, [*args, "--stop-at-step", "2"])
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [2]
    assert json.loads((out / "pretrain_config.json").read_text())["total_steps"] == 4
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "resumed" in res.output, res.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [2, 4]
