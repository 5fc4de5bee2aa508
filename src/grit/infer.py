"""One image, one question: run a model, parse its grounded chain, draw the boxes on the original image.

:func:`infer` is what ``grit infer`` calls; :func:`infer_image` does the work with an already loaded
generator, so a Python caller can load a model once and ask many questions.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from grit.chain import answer_text, parse
from grit.errors import GritUserError
from grit.models.generate import Generator, load_image


def _open_image(image_path: str | Path) -> Image.Image:
    """:func:`load_image`, its errors (missing or unreadable file, naming the path) as :class:`GritUserError`."""
    try:
        return load_image(image_path)
    except (FileNotFoundError, ValueError) as e:
        raise GritUserError(str(e)) from e


def _round(v: float) -> float:
    return round(float(v), 2)


def infer_image(
    generator: Generator,
    image_path: str | Path,
    question: str,
    *,
    out_png: str | Path | None = None,
    html: str | Path | None = None,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    prompt_style: str = "grit",
) -> dict:
    """Answer ``question`` about one image with a loaded generator; see :func:`infer` for the record."""
    image = _open_image(image_path)
    result = generator.generate(
        [{"image": image, "question": question}],
        batch_size=1,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        prompt_style=prompt_style,
    )[0]
    chain = parse(result.text, result.frame)
    boxes = []
    for cb in chain.boxes:
        pixel = result.frame.to_pixels(cb.box) if cb.box is not None else None
        boxes.append(
            {
                "label": cb.label,
                "coords": list(cb.coords),
                "frame": result.frame.kind,
                "box": [_round(v) for v in pixel.xyxy] if pixel is not None else None,
                "span": list(cb.span),
                "valid": cb.box is not None,
                "error": cb.error,
            }
        )
    written: dict[str, str] = {}
    if out_png is not None or html is not None:
        from grit.viz import chain_html, draw_chain, image_data_uri

        drawn = draw_chain(image, chain)
        if out_png is not None:
            out = Path(out_png)
            out.parent.mkdir(parents=True, exist_ok=True)
            drawn.save(out, format="PNG")
            written["png"] = str(out)
        if html is not None:
            out = Path(html)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                chain_html(chain, image_src=image_data_uri(drawn), title=question), encoding="utf-8"
            )
            written["html"] = str(out)
    frame = result.frame
    return {
        "question": question,
        "prompt": result.prompt,
        "completion": result.text,
        "think": chain.think,
        "rethink": chain.rethink,
        "answer": chain.answer,
        "answer_text": answer_text(result.text),
        "boxes": boxes,
        "strict_format": chain.strict_format,
        "tags_ok": chain.tags_ok,
        "frame": {"kind": frame.kind, "extent": [frame.extent_x, frame.extent_y]},
        "image": {"path": str(image_path), "width": image.width, "height": image.height},
        "family": generator.family.name,
        "n_prompt_tokens": result.n_prompt_tokens,
        "n_new_tokens": result.n_new_tokens,
        "finished": result.finished,
        "written": written,
    }


def infer(
    model_path: str | Path,
    image_path: str | Path,
    question: str,
    *,
    family: str | None = None,
    out_png: str | Path | None = None,
    html: str | Path | None = None,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    device: str | None = None,
    prompt_style: str = "grit",
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    dtype: str | None = None,
) -> dict:
    """Run ``model_path`` on one image and return a machine-readable record of the grounded chain.

    The record holds the question, the completion and its think / rethink / answer parts, every box found in
    the think part (label, coordinates as written, frame, the box in original-image pixels, its character span,
    valid or the reason it is not), ``strict_format``, the image size and the paths written. With ``out_png``
    the original image is saved with the boxes drawn; with ``html`` an HTML page of the chain is written too.
    Bad input (missing or unreadable image, unknown model or family) raises :class:`GritUserError`.
    """
    from grit.models.loading import ModelLoadError, load_model

    _open_image(image_path)  # fail on a bad image before spending time on the model
    if not question.strip():
        raise GritUserError("the question is empty")
    try:
        model, processor, fam = load_model(
            model_path, family, device=device, dtype=dtype, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except (ModelLoadError, FileNotFoundError, ValueError) as e:
        raise GritUserError(str(e)) from e
    generator = Generator(model, processor, fam)
    return infer_image(
        generator,
        image_path,
        question,
        out_png=out_png,
        html=html,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        prompt_style=prompt_style,
    )
