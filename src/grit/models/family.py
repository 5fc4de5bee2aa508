"""What differs between model families, in one small record per family, and what a family module provides.

A family says which transformers class loads a checkpoint, how its processor resizes images, which GRIT
prompt it was trained with, which sub-modules are its vision tower and projector, and — most importantly for
grounding — the coordinate frame its boxes are written in. Everything else in grit is family-agnostic.

This module and the ``FAMILY`` records import no torch or transformers, so an RL framework that only needs a
family's frame can read it without them; processors, configs and models load inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from grit.boxes import GRIT_QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Frame

# Qwen-style chat template (Qwen2-VL / Qwen2.5-VL / Qwen3-VL and the tiny models): one vision block per image.
_IMAGE = "content['type'] == 'image' or 'image' in content or 'image_url' in content"
_QWEN_VISION = "<|vision_start|><|image_pad|><|vision_end|>"


def _qwen_template(content_loop: str) -> str:
    return (
        "{% for message in messages %}"
        "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}" + content_loop + "{% endif %}<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


QWEN_CHAT_TEMPLATE = _qwen_template(
    "{% for content in message['content'] %}"
    f"{{% if {_IMAGE} %}}{_QWEN_VISION}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}"
)

# The same markup with each turn's text before its images, whatever order the messages list them in. A causal
# model that reads the question first lets its visual tokens attend to it, which helps a small model find the
# asked object. A checkpoint's own chat template decides the order, so every grit command (and TRL) builds
# its prompts the way that checkpoint was trained.
QWEN_CHAT_TEMPLATE_TEXT_FIRST = _qwen_template(
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}"
    "{% for content in message['content'] %}"
    f"{{% if {_IMAGE} %}}{_QWEN_VISION}{{% endif %}}"
    "{% endfor %}"
)

# InternVL3-hf: same chat markup (its language model is Qwen2.5); the processor expands <IMG_CONTEXT>.
INTERNVL_CHAT_TEMPLATE = QWEN_CHAT_TEMPLATE.replace(
    "<|vision_start|><|image_pad|><|vision_end|>", "<IMG_CONTEXT>\n"
).replace("You are a helpful assistant.", "你是书生·万象，英文名是InternVL。")

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
INTERNVL_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
]


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    model_class: str  # the transformers class AutoModelForImageTextToText loads the checkpoint as
    frame: str  # "resized" (Qwen2/2.5-VL), "norm1000" (InternVL3, Qwen3-VL) or "pixels"
    box_style: str  # how the GRIT prompt asks for boxes: "qwen" (JSON bbox_2d) or "internvl" (<box>)
    image_factor: int = 28  # processor resize granularity (patch * spatial merge)
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = GRIT_QWEN_MAX_PIXELS
    special_tokens: tuple[str, ...] = tuple(QWEN_SPECIAL_TOKENS)
    chat_template: str = QWEN_CHAT_TEMPLATE
    eos_token: str = "<|im_end|>"
    pad_token: str = "<|endoftext|>"
    extra_tokenizer_attrs: dict[str, str] = field(default_factory=dict)
    # Sub-module names of the vision tower and of the projector into the language model (training freezes
    # them, LoRA skips them). A projector nested in the tower (Qwen's ``visual.merger``) is its own part.
    vision_modules: tuple[str, ...] = ("visual",)
    projector_modules: tuple[str, ...] = ("merger",)

    def frame_for(
        self, width: int, height: int, min_pixels: int | None = None, max_pixels: int | None = None
    ) -> Frame:
        """The frame this family's boxes are written in, for an original image of ``width`` x ``height``."""
        if self.frame == "resized":
            return Frame.qwen_resized(
                width,
                height,
                min_pixels=min_pixels or self.min_pixels,
                max_pixels=max_pixels or self.max_pixels,
                factor=self.image_factor,
            )
        if self.frame == "norm1000":
            return Frame.norm1000(width, height)
        if self.frame == "pixels":
            return Frame.pixels(width, height)
        raise ValueError(f"family {self.name}: unknown frame {self.frame!r}")

    def prompt(self, question: str) -> str:
        """The GRIT user text for this family (the released checkpoints expect it verbatim)."""
        from grit.chain import grit_prompt

        return grit_prompt(question, self.box_style)

    def part_of(self, name: str) -> str:
        """Which part a parameter or module name belongs to: "vision", "projector" or "language"."""
        parts = name.split(".")
        if any(m in parts for m in self.projector_modules):
            return "projector"
        return "vision" if any(m in parts for m in self.vision_modules) else "language"

    def describe_frame(self) -> str:
        return {
            "resized": f"absolute pixels on the processor-resized image (multiples of {self.image_factor})",
            "norm1000": "0-1000 normalised over the original image",
            "pixels": "original-image pixels",
        }[self.frame]


@runtime_checkable
class FamilyModule(Protocol):
    """A module of ``grit.models`` for one family: its record, importable without transformers."""

    FAMILY: Family


@runtime_checkable
class TinyFamilyModule(FamilyModule, Protocol):
    """A family module that also builds offline tiny models (every family but ``generic``).

    The functions import transformers when called, never at module import.
    """

    def tiny_config(self, vocab_size: int, ids: dict[str, int], size: str = "tiny") -> Any:
        """A randomly initialisable config ("tiny" or "small") for a tokenizer of ``vocab_size``."""
        ...

    def tiny_processor(self, tokenizer, min_pixels: int | None = None, max_pixels: int | None = None) -> Any:
        """The family's image-only processor over ``tokenizer``, with the tiny model's image geometry."""
        ...

    def image_only_processor(self) -> type:
        """The family's processor class without its video processor (used where torchvision is missing)."""
        ...
