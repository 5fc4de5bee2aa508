"""Model families: tiny models build, save, reload through the public loader and generate; frames match the
processors' real resize; real checkpoint folders (stock processor class) load through AutoProcessor."""

from __future__ import annotations

import json
import shutil

import pytest
from models_fixtures import TINY_FAMILIES, tiny_model_dirs  # noqa: F401 - pytest fixture
from PIL import Image

from grit.boxes import Box, Frame
from grit.models import detect_family, family_for_model_type, get_family, list_families
from grit.models.generate import frame_for_image, pixel_budget
from grit.models.generic import make_generic
from grit.models.loading import load_model, load_processor
from grit.models.processors import has_torchvision

SIZES = [(640, 354), (100, 60), (1000, 1000)]
STOCK = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
    "internvl": "InternVLProcessor",
}


def test_list_families_describes_every_family():
    rows = {r["name"]: r for r in list_families()}
    assert set(rows) == {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl", "generic"}
    assert rows["qwen2_5_vl"]["frame"] == "resized" and rows["qwen2_5_vl"]["box_style"] == "qwen"
    assert rows["internvl"]["frame"] == "norm1000" and rows["internvl"]["box_style"] == "internvl"
    assert rows["qwen3_vl"]["model_class"] == "Qwen3VLForConditionalGeneration"
    assert all(r["frame_description"] and r["model_class"] for r in rows.values())


def test_model_types_map_to_families_and_unknown_is_generic():
    for name in TINY_FAMILIES:
        assert family_for_model_type(name) == name
    assert family_for_model_type("llava_onevision") == "generic"


def test_generic_family_needs_a_valid_frame_and_has_no_tiny_model():
    fam = make_generic("pixels", "internvl")
    assert fam.frame_for(640, 354) == Frame.pixels(640, 354)
    assert fam.prompt("How many?").startswith("Question: How many?")
    assert "<box>" in fam.prompt("q")
    with pytest.raises(ValueError, match="unknown frame"):
        make_generic("percent")
    with pytest.raises(ValueError, match="unknown box style"):
        make_generic("norm1000", "llava")
    from grit.errors import GritUserError
    from grit.models.tiny import build_tiny

    with pytest.raises(GritUserError, match="the generic family has no tiny model; build one of: qwen2_vl"):
        build_tiny("generic")
    with pytest.raises(GritUserError, match="unknown model family 'llava'"):
        get_family("llava")


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_family_names_its_vision_tower_and_projector(family):
    from grit.models.tiny import build_tiny

    model, _ = build_tiny(family)
    fam = get_family(family)
    names = [n for n, _ in model.named_parameters()]
    assert {fam.part_of(n) for n in names} == {"vision", "projector", "language"}
    assert all(hasattr(model.model, m) for m in fam.vision_modules)
    # the generic family (every known port's names) splits a known model the same way
    assert [get_family("generic").part_of(n) for n in names] == [fam.part_of(n) for n in names]


@pytest.mark.slow
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tiny_model_saves_reloads_and_generates(family, tiny_model_dirs):  # noqa: F811
    path = tiny_model_dirs[family]
    assert detect_family(path) == family
    model, processor, fam = load_model(path)
    assert fam == family
    assert type(model).__name__ == get_family(family).model_class
    if not has_torchvision():
        assert type(processor).__name__.endswith("ImageOnlyProcessor")
    if family == "internvl":  # context tokens per tile must agree between processor and model
        assert processor.image_seq_length == model.config.image_seq_length
    if family == "qwen3_vl":  # Qwen3-VL's own geometry survives the save/load round trip
        assert processor.image_processor.patch_size == 16
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many circles?"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    inputs = processor(text=[text], images=[Image.new("RGB", (100, 60), "red")], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 3)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("size", SIZES)
def test_qwen_frame_extent_equals_the_processors_real_resize(family, size, tiny_model_dirs):  # noqa: F811
    processor = load_processor(tiny_model_dirs[family])
    ip = processor.image_processor
    grid = ip(images=[Image.new("RGB", size, "white")], return_tensors="pt")["image_grid_thw"][0].tolist()
    real_h, real_w = grid[1] * ip.patch_size, grid[2] * ip.patch_size
    lo, hi = pixel_budget(processor)
    resized = Frame.qwen_resized(*size, min_pixels=lo, max_pixels=hi, factor=ip.patch_size * ip.merge_size)
    assert (resized.extent_x, resized.extent_y) == (real_w, real_h)
    frame = frame_for_image(get_family(family), processor, *size)
    if get_family(family).frame == "resized":
        assert frame == resized
        # a box over the whole resized image is the whole original image
        assert frame.to_pixels(Box(0, 0, real_w, real_h)).xyxy == pytest.approx([0, 0, *size])
    else:
        assert frame == Frame.norm1000(*size)


@pytest.mark.parametrize("size", SIZES)
def test_frame_follows_a_non_default_pixel_budget(size):
    """Mapping must use the processor's min/max pixels, not the family defaults."""
    from grit.models.qwen2_5_vl import tiny_processor
    from grit.models.tiny import build_hf_tokenizer

    processor = tiny_processor(
        build_hf_tokenizer("qwen2_5_vl"), min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28
    )
    assert pixel_budget(processor) == (4 * 28 * 28, 16 * 28 * 28)
    grid = processor.image_processor(images=[Image.new("RGB", size)], return_tensors="pt")["image_grid_thw"][
        0
    ]
    frame = frame_for_image(get_family("qwen2_5_vl"), processor, *size)
    assert (frame.extent_y, frame.extent_x) == (int(grid[1]) * 14, int(grid[2]) * 14)
    assert frame.extent_x * frame.extent_y <= 16 * 28 * 28


@pytest.mark.parametrize("size", SIZES)
def test_internvl_frame_is_normalised_over_the_original_image(size, tiny_model_dirs):  # noqa: F811
    processor = load_processor(tiny_model_dirs["internvl"])
    frame = frame_for_image(get_family("internvl"), processor, *size)
    assert frame == Frame.norm1000(*size)
    assert frame.to_pixels(Box(0, 0, 1000, 1000)).xyxy == pytest.approx([0, 0, *size])
    assert frame.to_pixels(Box(500, 250, 1000, 500)).xyxy == pytest.approx(
        [size[0] / 2, size[1] / 4, size[0], size[1] / 2]
    )


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_autoprocessor_loads_a_folder_that_names_the_stock_processor(family, tiny_model_dirs, tmp_path):  # noqa: F811
    """Real checkpoints say e.g. "Qwen2_5_VLProcessor"; without torchvision that class cannot be built."""
    import transformers
    from transformers import AutoProcessor

    folder = tmp_path / family
    shutil.copytree(tiny_model_dirs[family], folder)
    cfg_path = folder / "processor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["processor_class"] = STOCK[family]
    cfg_path.write_text(json.dumps(cfg))
    # grit registers its image-only processors with AutoProcessor when it first loads one
    for processor in (load_processor(folder), AutoProcessor.from_pretrained(str(folder))):
        assert isinstance(processor, getattr(transformers, STOCK[family]))
        if not has_torchvision():
            assert type(processor).__name__.endswith("ImageOnlyProcessor")
        text = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is it red?"}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        enc = processor(text=[text], images=[Image.new("RGB", (64, 48), "red")], return_tensors="pt")
        assert enc["input_ids"].shape[1] > 10
    # the folder grit itself saved (its own class name) loads through AutoProcessor too
    assert type(AutoProcessor.from_pretrained(str(tiny_model_dirs[family]))).__name__ != "TokenizersBackend"


def test_pixel_budget_override_changes_resize_and_frames(tiny_model_dirs):  # noqa: F811
    from grit.models.loading import ModelLoadError, load_model

    _, processor, fam = load_model(tiny_model_dirs["qwen2_5_vl"], max_pixels=4 * 28 * 28)
    grid = processor.image_processor(images=[Image.new("RGB", (640, 354))], return_tensors="pt")[
        "image_grid_thw"
    ]
    frame = frame_for_image(get_family(fam), processor, 640, 354)
    assert (frame.extent_y, frame.extent_x) == (int(grid[0][1]) * 14, int(grid[0][2]) * 14)
    assert frame.extent_x * frame.extent_y <= 4 * 28 * 28
    with pytest.raises(ModelLoadError, match="Qwen-style"):
        load_model(tiny_model_dirs["internvl"], max_pixels=4 * 28 * 28)
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        load_model(tiny_model_dirs["qwen2_5_vl"], dtype="float64")


def test_text_first_template_puts_the_question_before_the_image_whatever_the_message_order():
    from trl.data_utils import prepare_multimodal_messages

    from grit.models.family import QWEN_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE_TEXT_FIRST
    from grit.models.tiny import build_tiny

    _, processor = build_tiny("qwen2_5_vl")
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    image_first = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]
    # TRL turns a string prompt into [image, text] before applying the processor's template
    trl_style = prepare_multimodal_messages(
        [{"role": "user", "content": "How many?"}], [Image.new("RGB", (4, 4))]
    )
    assert processor.chat_template == QWEN_CHAT_TEMPLATE
    assert f"user\n{vision}How many?<|im_end|>" in processor.apply_chat_template(image_first, tokenize=False)
    processor.chat_template = QWEN_CHAT_TEMPLATE_TEXT_FIRST
    for messages in (image_first, trl_style):
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert text.endswith(f"<|im_start|>user\nHow many?{vision}<|im_end|>\n<|im_start|>assistant\n")
    # assistant turns and string contents are rendered as before
    chat = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "yo"}]},
    ]
    assert processor.apply_chat_template(chat, tokenize=False).endswith(
        "user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n"
    )


@pytest.mark.slow
def test_a_text_first_checkpoint_is_prompted_text_first_by_grit(tmp_path):
    """The order is the checkpoint's: grit's generation path (eval, infer) follows the saved template."""
    from grit.models.family import QWEN_CHAT_TEMPLATE_TEXT_FIRST
    from grit.models.generate import chat_prompt
    from grit.models.tiny import build_tiny

    model, processor = build_tiny("qwen2_5_vl")
    processor.chat_template = QWEN_CHAT_TEMPLATE_TEXT_FIRST
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    model, processor, _ = load_model(tmp_path)
    text = chat_prompt(processor, "Where is it?")
    assert text.index("Where is it?") < text.index("<|vision_start|>")
    inputs = processor(text=[text], images=[Image.new("RGB", (84, 84), "red")], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 2
