"""Batched generation for inference and evaluation: image + question in, completion text and its frame out.

Every item's box frame is computed from its original image size and the processor's own pixel budget, so
boxes map back to the original image exactly as the processor resized it. Items are sorted by prompt
length so batches waste little padding (left padding, as decoder-only generation needs), and results come
back in input order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from grit.boxes import Frame
from grit.errors import InvalidValue
from grit.models import decode, get_family
from grit.models.family import Family

PROMPT_STYLES = ("grit", "vanilla")
ONE_THREAD_MAX_PARAMS = 50_000_000  # models up to this size decode on one CPU thread (see decode_threads)


@dataclass(frozen=True)
class GenerationResult:
    text: str  # the completion, special tokens removed
    prompt: str  # the user text sent with the image (before the chat template)
    n_prompt_tokens: int  # chat prompt incl. image tokens
    n_new_tokens: int  # generated tokens incl. the end token when one was produced
    frame: Frame  # the frame this family writes boxes in, for this item's image
    finished: bool  # stopped at an end token (False: cut at max_new_tokens)


def load_image(image: Image.Image | str | Path) -> Image.Image:
    """An RGB PIL image from a PIL image or a path (errors name the path)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image not found")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as e:
        raise InvalidValue(f"{path}: cannot read the image ({e})") from e


def user_text(question: str, family: Family, prompt_style: str = "grit") -> str:
    """The user-turn text for ``question``: GRIT's prompt, the bare question, or a template with ``{question}``."""
    if prompt_style == "grit":
        return family.prompt(question)
    if prompt_style == "vanilla":
        return question
    if "{question}" in prompt_style:
        return prompt_style.replace("{question}", question)
    raise InvalidValue(
        f"prompt_style must be 'grit', 'vanilla' or a template containing {{question}}, got {prompt_style!r}"
    )


def pixel_budget(processor) -> tuple[int | None, int | None]:
    """``(min_pixels, max_pixels)`` the processor really resizes with (None where it does not say)."""
    ip = getattr(processor, "image_processor", processor)
    lo, hi = getattr(ip, "min_pixels", None), getattr(ip, "max_pixels", None)
    size = getattr(ip, "size", None)
    if size is not None:
        get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
        lo = lo or get("min_pixels") or get("shortest_edge")
        hi = hi or get("max_pixels") or get("longest_edge")
    return lo, hi


def image_factor(processor, default: int) -> int:
    """Resize granularity of a Qwen-style image processor (patch × merge); ``default`` for others."""
    ip = getattr(processor, "image_processor", processor)
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    return patch * merge if isinstance(patch, int) and isinstance(merge, int) else default


def frame_for_image(family: Family, processor, width: int, height: int) -> Frame:
    """The family's frame for a ``width`` x ``height`` image, using the processor's real resize settings."""
    lo, hi = pixel_budget(processor)
    if family.frame == "resized":
        factor = image_factor(processor, family.image_factor)
        return Frame.qwen_resized(
            width,
            height,
            min_pixels=lo or family.min_pixels,
            max_pixels=hi or family.max_pixels,
            factor=factor,
        )
    return family.frame_for(width, height, lo, hi)


def chat_prompt(processor, text: str) -> str:
    """One user turn (the image, then ``text``) in the checkpoint's chat template, ready for the assistant."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def prepare_item(item: dict, family: Family, processor, prompt_style: str) -> tuple[Image.Image, str, Frame]:
    """An item's RGB image, its user text and its frame; both generators build their requests from these.

    The item's ``prompt`` (when given) is the user text verbatim; otherwise it is built from ``question``.
    """
    image = load_image(item["image"])
    text = item.get("prompt") or user_text(item["question"], family, prompt_style)
    return image, text, frame_for_image(family, processor, *image.size)


@contextmanager
def decode_threads(model) -> Iterator[None]:
    """Decode a small model on one CPU thread for the duration of the block.

    One decode step of a model this small is a few hundred tiny ops (the shapes base's largest matmul, 16 x 128
    by 128 x 384, is ~15 µs of arithmetic): split across threads, each op gains little and waits at a barrier
    for the other threads, and on a machine whose cores are busy that wait is a scheduler time slice (measured
    on the demo's sampling: BENCHMARKS.md, "Decoding on one thread"). Larger models and GPUs keep their threads.
    """
    threads = torch.get_num_threads()
    n_params = decode.cpu_parameters(model)
    if threads == 1 or n_params is None or n_params > ONE_THREAD_MAX_PARAMS:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _collate(encoded: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad per-item processor outputs into one batch: token-aligned tensors are padded, the rest concatenated."""
    width = max(e["input_ids"].shape[1] for e in encoded)
    batch: dict[str, torch.Tensor] = {}
    for key in encoded[0]:
        parts = [e[key] for e in encoded]
        if not isinstance(parts[0], torch.Tensor):
            continue
        if parts[0].dim() == 2 and all(
            p.shape == e["input_ids"].shape for p, e in zip(parts, encoded, strict=True)
        ):
            fill = pad_id if key == "input_ids" else 0
            parts = [torch.nn.functional.pad(p, (width - p.shape[1], 0), value=fill) for p in parts]
        batch[key] = torch.cat(parts, dim=0)
    return batch


class Generator:
    """Hugging Face generation for one model + processor, for any grit family."""

    def __init__(self, model, processor, family: str | Family, device: str | torch.device | None = None):
        self.model = model
        self.processor = processor
        self.family = get_family(family) if isinstance(family, str) else family
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.stop_ids = self._stop_ids()

    def _stop_ids(self) -> list[int]:
        ids = {self.tokenizer.convert_tokens_to_ids(self.family.eos_token)}
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids.update([gen_eos] if isinstance(gen_eos, int) else gen_eos or [])
        unk = self.tokenizer.unk_token_id
        return sorted(i for i in ids if i is not None and i != unk)

    @torch.inference_mode()
    def generate(
        self,
        items: Sequence[dict],
        *,
        batch_size: int = 8,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        prompt_style: str = "grit",
    ) -> list[GenerationResult]:
        """Complete each ``{"image", "question", "prompt"?}`` item; greedy when ``temperature`` is 0.

        An item's ``prompt`` (when given) is the user text verbatim; otherwise it is built from ``question``
        with ``prompt_style``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        prepared = []
        for i, item in enumerate(items):
            image, text, frame = prepare_item(item, self.family, self.processor, prompt_style)
            enc = self.processor(
                text=[chat_prompt(self.processor, text)], images=[image], return_tensors="pt"
            )
            prepared.append((i, text, enc, frame))
        # Longest first: similar lengths share a batch, and an out-of-memory batch fails at once.
        prepared.sort(key=lambda p: -p[2]["input_ids"].shape[1])
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        sampling = dict(do_sample=False)
        if temperature > 0:
            sampling = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k or 0)
            if seed is not None:
                torch.manual_seed(seed)
        results: list[GenerationResult | None] = [None] * len(prepared)
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            batch = {k: v.to(self.device) for k, v in _collate([c[2] for c in chunk], pad_id).items()}
            if "pixel_values" in batch and batch["pixel_values"].is_floating_point():
                batch["pixel_values"] = batch["pixel_values"].to(self.model.dtype)
            with decode_threads(self.model):
                out = decode.generate(
                    self.model,
                    **batch,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=self.stop_ids,
                    pad_token_id=pad_id,
                    **sampling,
                )
            new = out[:, batch["input_ids"].shape[1] :].tolist()
            for (idx, text, enc, frame), ids in zip(chunk, new, strict=True):
                end = next((j for j, t in enumerate(ids) if t in self.stop_ids), None)
                results[idx] = GenerationResult(
                    text=self.tokenizer.decode(ids[:end], skip_special_tokens=True),  # without the end token
                    prompt=text,
                    n_prompt_tokens=int(enc["attention_mask"].sum()),
                    n_new_tokens=len(ids) if end is None else end + 1,
                    frame=frame,
                    finished=end is not None,
                )
        return results  # type: ignore[return-value]


class VLLMGenerator:
    """The same interface on vLLM, for fast evaluation of real checkpoints on GPUs.

    Only built when ``vllm`` is importable; it is not exercised by the test suite (no GPU there). Prompts,
    frames and stop tokens come from the same family record and processor as :class:`Generator`.
    """

    def __init__(self, model_path: str | Path, family: str | Family | None = None, **engine_kwargs):
        from vllm import LLM

        from grit.models.loading import load_processor, resolve_family

        fam = family if isinstance(family, Family) else get_family(resolve_family(model_path, family))
        self.family = fam
        self.processor = load_processor(model_path, fam.name)
        lo, hi = pixel_budget(self.processor)
        mm_kwargs = {"min_pixels": lo, "max_pixels": hi} if fam.frame == "resized" and lo and hi else {}
        engine_kwargs.setdefault("limit_mm_per_prompt", {"image": 1})
        if mm_kwargs:
            engine_kwargs.setdefault("mm_processor_kwargs", mm_kwargs)
        self.llm = LLM(model=str(model_path), **engine_kwargs)

    def generate(
        self,
        items: Sequence[dict],
        *,
        batch_size: int = 8,  # vLLM schedules its own batches; kept for interface parity
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        prompt_style: str = "grit",
    ) -> list[GenerationResult]:
        from vllm import SamplingParams

        requests, meta = [], []
        for item in items:
            image, text, frame = prepare_item(item, self.family, self.processor, prompt_style)
            requests.append(
                {"prompt": chat_prompt(self.processor, text), "multi_modal_data": {"image": image}}
            )
            meta.append((text, frame))
        params = SamplingParams(
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p if temperature > 0 else 1.0,
            top_k=(top_k or -1) if temperature > 0 else -1,
            seed=seed,
            stop=[self.family.eos_token],
        )
        outputs = self.llm.generate(requests, params)
        return [
            GenerationResult(
                # decoded by grit's tokenizer, which keeps box markup (vLLM's own text drops special tokens)
                text=self.processor.tokenizer.decode(o.outputs[0].token_ids, skip_special_tokens=True),
                prompt=text,
                n_prompt_tokens=len(o.prompt_token_ids or []),
                n_new_tokens=len(o.outputs[0].token_ids),
                frame=frame,
                finished=o.outputs[0].finish_reason == "stop",
            )
            for o, (text, frame) in zip(outputs, meta, strict=True)
        ]
