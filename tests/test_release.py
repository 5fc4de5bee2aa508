"""Regression tests on the real release files (../shared/fixtures/hf: tokenizers, chat templates, processors).

Each family's folder is built once per session by ``grit.models.release.build_from_release``: the real
tokenizer, processor settings and chat template beside random weights of a depth-2 network (vocabulary,
special-token ids, patch / merge sizes, M-RoPE sections and image token ids kept). ``grit models check``
must pass on them and catch the broken variants users meet; ``grit infer`` / ``eval`` / ``train`` run on
them (slow); TRL's own message path renders their prompts; frames follow the real processors' resizing.

InternVL3-2B-hf: ``OpenGVLab__InternVL3-2B/`` holds only the original remote-code release's tokenizer and config
(no -hf port was found). Its folder here is that release's tokenizer files (vocab.json, merges.txt,
tokenizer_config.json, added tokens) with the ``-hf`` chat template and processor settings of transformers'
conversion script (``models/internvl/convert_internvl_weights_to_hf.py``: ``<IMG_CONTEXT>`` = 151667, the image
token attributes on the tokenizer, 448-pixel GOT-OCR2 tiles with ImageNet statistics, 256 tokens per tile) and
its config converted the same way; see ``grit.models.release``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from grit.cli import app

RELEASES = {
    "qwen2_5_vl": "Qwen__Qwen2.5-VL-3B-Instruct",
    "qwen2_vl": "Qwen__Qwen2-VL-2B-Instruct",
    "qwen3_vl": "Qwen__Qwen3-VL-4B-Instruct",
    "internvl": "OpenGVLab__InternVL3-2B",
}
PAPER_CONFIGS = {"qwen2_5_vl": "grit_qwen2_5_vl_3b.yaml", "internvl": "grit_internvl3_2b.yaml"}
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def hf_dir(fixtures_dir) -> Path:
    path = fixtures_dir / "hf"
    if not all((path / name / "config.json").is_file() for name in RELEASES.values()):
        pytest.skip(f"real release files not found under {path} (see its SOURCES.md)")
    return path


@pytest.fixture(scope="session")
def built(hf_dir, tmp_path_factory):
    """``built(family)``: the cut-down folder of that family's release, built on first use."""
    from grit.models.release import build_from_release

    root = tmp_path_factory.mktemp("releases")
    cache: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in cache:
            cache[family] = build_from_release(hf_dir / RELEASES[family], root / family)
        return cache[family]

    return get


@pytest.fixture(scope="session")
def processors(built):
    """``processors(family)``: the loaded processor of a built folder (loaded once)."""
    from grit.models.loading import load_processor

    cache: dict[str, object] = {}

    def get(family: str):
        if family not in cache:
            cache[family] = load_processor(built(family))
        return cache[family]

    return get


def broken_copy(src: Path, dst: Path) -> Path:
    """A copy of a built folder to break one file of (the weights and BPE files are linked, not copied)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name.endswith(".safetensors") or f.name in ("vocab.json", "merges.txt", "tokenizer.json"):
            (dst / f.name).symlink_to(f)
        else:
            shutil.copyfile(f, dst / f.name)
    return dst


def verdicts(report) -> dict[str, str]:
    return {f.item: f.verdict for f in report.findings}


def write_config(path: Path, **fields) -> Path:
    path.write_text(yaml.safe_dump({"model": "unused", "train_data": ["unused.jsonl"], **fields}))
    return path


# --------------------------------------------------------------------------------------- models check


@pytest.mark.parametrize("family", list(RELEASES))
def test_check_passes_on_each_release(built, family):
    from grit.models.check import check_model

    report = check_model(built(family))
    assert report.family == family
    assert report.problems == [], report.problems
    found = verdicts(report)
    for item in ("family", "frame", "processor", "image geometry", "image token", "chat template"):
        assert item in found
    assert found["completion"] == "ok"
    assert report.prompt is not None and "Question: How many red squares are there?" in report.prompt


def test_check_cli_on_the_raw_3b_release_with_the_paper_config(hf_dir):
    """The release folder itself (no weights needed): passes, and says what differs from GRIT's setting."""
    result = run(
        "models", "check", hf_dir / RELEASES["qwen2_5_vl"], "--config", CONFIGS / PAPER_CONFIGS["qwen2_5_vl"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "qwen2_5_vl" in out and "resized" in out and "<|image_pad|>" in out
    # the 3B's tokenizer_config.json carries the text-only Qwen2.5 template; chat_template.json the vision one
    assert "text-only" in out
    assert "config length" in out and "1000 completion tokens" in out


def test_check_internvl_with_its_paper_config(built):
    result = run("models", "check", built("internvl"), "--config", CONFIGS / PAPER_CONFIGS["internvl"])
    assert result.exit_code == 0, result.output
    assert "<IMG_CONTEXT>" in result.stdout and "<box>" in result.stdout


@pytest.mark.parametrize("how", ["missing", "copied"])
def test_check_catches_a_text_only_chat_template(built, tmp_path, how):
    """The 3B's tokenizer_config.json carries the text-only Qwen2.5 template: a folder whose chat_template.json
    is missing, or holds that template, cannot place the image."""
    broken = broken_copy(built("qwen2_5_vl"), tmp_path / "m")
    if how == "missing":
        (broken / "chat_template.json").unlink()
    else:
        text_only = json.loads((broken / "tokenizer_config.json").read_text())["chat_template"]
        (broken / "chat_template.json").write_text(json.dumps({"chat_template": text_only}))
    result = run("models", "check", broken)
    assert result.exit_code == 1
    line = next(x for x in result.stderr.splitlines() if x.startswith("error: chat template:"))
    assert "text-only" in line


def test_check_catches_an_image_token_the_tokenizer_lacks(built, tmp_path):
    broken = broken_copy(built("qwen2_5_vl"), tmp_path / "m")
    cfg = json.loads((broken / "config.json").read_text())
    cfg["image_token_id"] = 999_999
    (broken / "config.json").write_text(json.dumps(cfg))
    result = run("models", "check", broken)
    assert result.exit_code == 1
    assert "error: image token: config.json image_token_id 999999 is not in the tokenizer" in result.stderr


def test_check_catches_a_processor_of_another_family(built, hf_dir, tmp_path):
    """Qwen3-VL's preprocessor (16-pixel patches) in a Qwen2.5-VL folder: its features would not match."""
    broken = broken_copy(built("qwen2_5_vl"), tmp_path / "m")
    shutil.copyfile(
        hf_dir / RELEASES["qwen3_vl"] / "preprocessor_config.json", broken / "preprocessor_config.json"
    )
    result = run("models", "check", broken)
    assert result.exit_code == 1
    assert (
        "error: processor: Qwen3VLProcessor (preprocessor_config.json) is another family's" in result.stderr
    )
    assert "error: image geometry:" in result.stderr


def test_check_catches_a_prompt_the_rewards_do_not_expect(built, tmp_path):
    config = write_config(tmp_path / "vanilla.yaml", prompt="vanilla")
    result = run("models", "check", built("qwen2_5_vl"), "--config", config)
    assert result.exit_code == 1
    line = next(x for x in result.stderr.splitlines() if x.startswith("error: config prompt:"))
    assert "<think>" in line and "<answer>" in line and "grounded_reasoning_format" in line


def test_check_catches_a_frame_that_does_not_match_the_family(built, tmp_path):
    """A config naming Qwen2-VL (0-1000 boxes) for a Qwen2.5-VL folder (boxes on the resized image)."""
    config = write_config(tmp_path / "wrong.yaml", family="qwen2_vl")
    result = run("models", "check", built("qwen2_5_vl"), "--config", config)
    assert result.exit_code == 1
    line = next(x for x in result.stderr.splitlines() if x.startswith("error: config family:"))
    assert "norm1000" in line and "resized" in line and "wrong frame" in line


def test_check_catches_a_completion_budget_beyond_the_model(built, tmp_path):
    config = write_config(tmp_path / "long.yaml", grpo={"max_completion_length": 200_000})
    result = run("models", "check", built("qwen2_5_vl"), "--config", config)
    assert result.exit_code == 1 and "error: config length:" in result.stderr


def test_check_weights_runs_a_forward_pass(built):
    from grit.models.check import check_model

    report = check_model(built("qwen3_vl"), load_weights=True)
    assert verdicts(report)["weights"] == "ok" and report.problems == []


def test_check_reports_a_folder_without_config(tmp_path):
    result = run("models", "check", tmp_path)
    assert result.exit_code == 1 and "no config.json" in result.stderr


# ------------------------------------------------------------------------------ decoding keeps box markup


def test_qwen2_vl_native_boxes_survive_decoding(processors):
    """Qwen2-VL's <|box_start|>(x1,y1),(x2,y2)<|box_end|> are special tokens; TRL's and grit's decoding keep them."""
    from grit.boxes import Frame
    from grit.chain import parse

    processor = processors("qwen2_vl")
    text = (
        "<think> The <|object_ref_start|>dog<|object_ref_end|><|box_start|>(100,200),(500,750)<|box_end|> sits. "
        "</think><rethink> One dog. </rethink><answer> 1 </answer>"
    )
    ids = [*processor.tokenizer.encode(text, add_special_tokens=False), processor.tokenizer.eos_token_id]
    decoded = processor.batch_decode([ids], skip_special_tokens=True)[0]  # what TRL does
    assert decoded == text
    chain = parse(decoded, Frame.norm1000(640, 480))
    assert chain.strict_format
    [box] = chain.boxes
    assert box.label == "dog" and box.coords == (100, 200, 500, 750)
    assert chain.pixel_boxes()[0].xyxy == [64.0, 96.0, 320.0, 360.0]
    # every other special token is still skipped
    assert "<|im_end|>" not in decoded and processor.tokenizer.decode(ids).endswith("<|im_end|>")


def test_internvl_ref_and_box_tags_survive_decoding(processors):
    """<ref>/<box> (GRIT's InternVL prompt asks for them) are special tokens of the InternVL tokenizer."""
    from grit.chain import parse

    tok = processors("internvl").tokenizer
    text = "<think> A <ref>cat</ref><box>[[10, 20, 300, 400]]</box>. </think><rethink> ok </rethink><answer> 1 </answer>"
    assert "<box>" in tok.all_special_tokens or tok.convert_tokens_to_ids("<box>") == 151672
    decoded = tok.decode(tok.encode(text, add_special_tokens=False), skip_special_tokens=True)
    assert decoded == text
    assert [b.label for b in parse(decoded).boxes] == ["cat"]


# ------------------------------------------------------------------------------ TRL renders the real template


@pytest.mark.parametrize("family", list(RELEASES))
def test_grpo_rows_render_with_the_real_template_through_trl(built, processors, family, tmp_path):
    """The dataset rows grit hands TRL, through TRL's own message path, give grit's prompt and the image's tokens."""
    from trl.data_utils import prepare_multimodal_messages

    from grit.models import get_family
    from grit.models.check import visual_tokens
    from grit.models.generate import chat_prompt, user_text
    from grit.train.config import TrainConfig
    from grit.train.trainer import build_dataset

    img = tmp_path / "img.png"
    Image.new("RGB", (500, 375), "white").save(img)
    rec = {
        "question": "Is the cat left of the dog?",
        "answer": "yes",
        "image": "img.png",
        "width": 500,
        "height": 375,
    }
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(rec) + "\n")
    processor = processors(family)
    cfg = TrainConfig(model=str(built(family)), train_data=[str(data)])
    row = build_dataset([str(data)], cfg, family, processor)[0]
    messages = prepare_multimodal_messages(row["prompt"], images=[row["image"]])
    kwargs = dict(add_generation_prompt=True, return_dict=True)
    text = processor.apply_chat_template([messages], tokenize=False, **kwargs)
    text = text[0] if isinstance(text, list) else text
    text = text if isinstance(text, str) else text["text"][0]
    assert text == chat_prompt(processor, user_text(rec["question"], get_family(family)))
    enc = processor.apply_chat_template([messages], tokenize=True, return_tensors="pt", **kwargs)
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    assert int((enc["input_ids"][0] == image_id).sum()) == visual_tokens(processor, enc) > 0


# ------------------------------------------------------------------------------ frames follow the real resize


@pytest.mark.parametrize("family", list(RELEASES))
@pytest.mark.parametrize("size", [(480, 640), (1280, 720), (30, 20)], ids=["portrait", "landscape", "tiny"])
def test_frames_follow_the_real_processor(processors, family, size):
    """A box written in the family's frame lands on the pixels it names, whatever the processor did."""
    from grit.boxes import Box
    from grit.models import get_family
    from grit.models.generate import chat_prompt, frame_for_image

    processor, fam = processors(family), get_family(family)
    w, h = size
    frame = frame_for_image(fam, processor, w, h)
    enc = processor(text=[chat_prompt(processor, "q")], images=[Image.new("RGB", size)], return_tensors="pt")
    if fam.frame == "resized":  # absolute pixels of the image the processor really made
        _, gh, gw = (int(v) for v in enc["image_grid_thw"][0])
        patch = processor.image_processor.patch_size
        assert (frame.extent_x, frame.extent_y) == (gw * patch, gh * patch)
        written = Box(0, 0, gw * patch, gh * patch)  # the whole resized image ...
    else:
        assert (frame.extent_x, frame.extent_y) == (1000, 1000)
        written = Box(0, 0, 1000, 1000)
    assert frame.to_pixels(written).xyxy == pytest.approx([0, 0, w, h])  # ... is the whole original image
    half = frame.to_pixels(Box(0, 0, frame.extent_x / 2, frame.extent_y / 2))
    assert half.xyxy == pytest.approx([0, 0, w / 2, h / 2])


# ----------------------------------------------------------------------------- infer / eval / train end to end


@pytest.fixture(scope="module")
def grit_data(tmp_path_factory) -> Path:
    """Two GRIT records (a counting and a spatial question) with their images."""
    root = tmp_path_factory.mktemp("grit-data")
    recs = [
        {"question": "How many squares are there?", "answer": "1", "dataset": "tallyqa", "size": (320, 240)},
        {"question": "Is the square on the left?", "answer": "yes", "dataset": "vsr", "size": (240, 320)},
    ]
    lines = []
    for i, r in enumerate(recs):
        w, h = r.pop("size")
        Image.new("RGB", (w, h), (200, 40, 40)).save(root / f"{i}.png")
        lines.append(
            json.dumps({**r, "image": f"{i}.png", "width": w, "height": h, "bboxs": [[10, 10, 60, 60]]})
        )
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    return root / "data.jsonl"


@pytest.mark.slow
@pytest.mark.parametrize("family", list(RELEASES))
def test_infer_and_eval_run_on_each_release(built, grit_data, family, tmp_path):
    model = built(family)
    image = grit_data.parent / "0.png"
    result = run("infer", "--model", model, "--image", image, "--question", "How many?", "--json", "--no-png",
                 "--max-new-tokens", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["family"] == family and 1 <= rec["n_new_tokens"] <= 4
    out = tmp_path / "eval"
    result = run(
        "eval", "--model", model, "--data", grit_data, "--out", out, "--max-new-tokens", "4", "--limit", "2"
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2


@pytest.mark.slow
@pytest.mark.parametrize("family", list(RELEASES))
def test_two_paper_config_train_steps_with_lora(built, grit_data, family, tmp_path):
    """The paper's config (its Qwen2.5-VL one for the Qwen families), with LoRA and CPU-sized batches."""
    config = CONFIGS / PAPER_CONFIGS.get(family, PAPER_CONFIGS["qwen2_5_vl"])
    result = run(
        "train", "--config", config,
        f"model={built(family)}", f"family={family}", f"train_data={grit_data}", "eval_data=[]",
        "image_root=null", f"output_dir={tmp_path / 'run'}", "lora_r=8", "lora_alpha=16", "threads=2",
        "grpo.bf16=false", "grpo.use_cpu=true", "grpo.max_steps=2", "grpo.num_generations=2",
        "grpo.per_device_train_batch_size=2", "grpo.gradient_accumulation_steps=1",
        "grpo.max_completion_length=8", "grpo.save_strategy=no", "grpo.report_to=none",
        "grpo.gradient_checkpointing=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert [h["step"] for h in history if "reward" in h] == [1, 2]
    assert (tmp_path / "run" / "final" / "config.json").is_file()
