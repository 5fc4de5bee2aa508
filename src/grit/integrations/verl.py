"""GRPO-GR on verl: the reward as a verl custom reward function, and GRIT jsonl → verl's RL parquet.

verl (https://github.com/volcengine/verl) scores each rollout with ``compute_score(data_source, solution_str,
ground_truth, extra_info, **reward_kwargs)``; a dict result must hold ``score`` and its other keys are logged.
Point verl at this module with::

    reward.custom_reward_function.path=pkg://grit.integrations.verl
    reward.custom_reward_function.name=compute_score

The reward side imports nothing but grit's pure core (stdlib only), so verl's environment needs grit installed
without its dependencies (``pip install --no-deps``). Each row's coordinate frame travels in
``extra_info["frame"]`` (written by ``grit data export --to verl``): the rewards check boxes in the frame the
model really saw, as ``grit train`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from grit.boxes import Frame
from grit.errors import GritUserError
from grit.files import atomic_path
from grit.rewards import DEFAULT_WEIGHTS, GRPO_GR_REWARDS, REGISTRY


class VerlRowError(GritUserError):
    """A verl row that grit cannot score (no frame, no ground truth); the message names the row."""


def _row_name(data_source: object, info: Mapping[str, Any]) -> str:
    ident = info.get("id") if info.get("id") is not None else info.get("index")
    return f"verl row {ident!r} (data_source {data_source!r})"


def row_frame(data_source: object, extra_info: object) -> Frame:
    """The row's coordinate frame from ``extra_info["frame"]``; :class:`VerlRowError` naming the row if absent."""
    info = extra_info if isinstance(extra_info, Mapping) else {}
    raw = info.get("frame")
    if raw is None:
        raise VerlRowError(
            f"{_row_name(data_source, info)}: extra_info has no 'frame' (the coordinate frame its boxes are "
            "checked in); write the parquet with `grit data export --to verl`"
        )
    try:
        return Frame.from_dict(raw)
    except ValueError as e:
        raise VerlRowError(f"{_row_name(data_source, info)}: extra_info['frame']: {e}") from None


@lru_cache(maxsize=64)
def _weights(
    names: tuple[str, ...] | None, weights: tuple[tuple[str, float], ...]
) -> tuple[tuple[str, float], ...]:
    chosen = list(GRPO_GR_REWARDS) if names is None else list(names)
    unknown = [n for n in (*chosen, *(k for k, _ in weights)) if n not in REGISTRY]
    if unknown:
        raise GritUserError(f"verl reward_kwargs: unknown reward(s) {unknown}; valid: {', '.join(REGISTRY)}")
    extra = [k for k, _ in weights if k not in chosen]
    if extra:
        raise GritUserError(f"verl reward_kwargs: weights given for {extra}, which 'rewards' leaves out")
    given = dict(weights)
    return tuple((n, float(given.get(n, DEFAULT_WEIGHTS[n]))) for n in chosen)


def reward_weights(rewards: object = None, weights: object = None) -> tuple[tuple[str, float], ...]:
    """``(name, weight)`` of each GRPO-GR reward to sum: the paper's seven with weight 1 (its sum) unless
    ``rewards`` (names, or a comma-separated string) and ``weights`` (name → weight) say otherwise."""
    names = None
    if isinstance(rewards, str):
        names = tuple(n.strip() for n in rewards.split(",") if n.strip())
    elif rewards is not None:
        names = tuple(str(n) for n in rewards)  # a list, or verl's OmegaConf ListConfig
    w = tuple(sorted((str(k), float(v)) for k, v in dict(weights or {}).items()))
    return _weights(names, w)


def _plain_list(value: object) -> list[str] | None:
    """Choices as a list of strings, whether they come back from parquet as a list, tuple or numpy array."""
    if value is None:
        return None
    tolist = getattr(value, "tolist", None)
    value = tolist() if callable(tolist) else value
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else None


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    rewards: object = None,
    weights: object = None,
    **_verl_kwargs: Any,
) -> dict[str, float]:
    """The GRPO-GR reward of one rollout: ``score`` (the weighted sum) and each reward's value, for logging.

    ``rewards`` / ``weights`` come from verl's ``reward_kwargs``; other keywords verl may pass (a reward
    router's address, ...) are ignored. ``extra_info`` carries the frame and the item's question, dataset tag,
    choices and answer type, as ``grit data export --to verl`` writes them.
    """
    info = extra_info if isinstance(extra_info, Mapping) else {}
    frame = row_frame(data_source, info)
    if ground_truth is None:
        raise VerlRowError(f"{_row_name(data_source, info)}: reward_model.ground_truth is missing")
    question = info.get("question")
    columns: dict[str, list[Any]] = {
        "answer": [str(ground_truth)],
        "dataset": [info.get("dataset", data_source)],
        "question": [question if isinstance(question, str) else None],
        "choices": [_plain_list(info.get("choices"))],
        "answer_type": [info.get("answer_type")],
        "frame": [frame],
        "width": [frame.image_width],
        "height": [frame.image_height],
    }
    completions = [solution_str if isinstance(solution_str, str) else ""]
    parts: dict[str, float] = {}
    score = 0.0
    for name, weight in reward_weights(rewards, weights):
        value = float(REGISTRY[name](completions, **columns)[0])
        parts[name] = value
        score += weight * value
    return {"score": score, **parts}


# ------------------------------------------------------------------------------------------------ export


def verl_row(
    rec: Any, index: int, image: dict[str, Any], frame: Frame, prompt_text: str, split: str
) -> dict[str, Any]:
    """One GRIT record as a row of verl's multimodal RL parquet (the layout of verl's geo3k example):
    the user turn holds ``<image>`` where verl puts the picture, then GRIT's prompt."""
    data_source = rec.dataset or "grit"
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": "<image>" + prompt_text}],
        "images": [image],
        "ability": "grounded_reasoning",
        "reward_model": {"style": "rule", "ground_truth": str(rec.answer)},
        "extra_info": {
            "split": split,
            "index": index,
            "id": None if rec.id is None else str(rec.id),
            "dataset": rec.dataset,
            "question": rec.question,
            "choices": rec.choices,
            "answer_type": rec.answer_type,
            "frame": frame.to_dict(),
            "bboxs": [list(map(float, b)) for b in rec.bboxs],  # ground truth, original-image pixels
        },
    }


def _parquet_writer(resized: bool) -> Callable[[list[dict[str, Any]], Path], None]:
    """A writer with a fixed schema, so files exported apart (train, val) concatenate in verl even where one
    of them has no choices at all. Pixel budgets are columns only for resized frames: verl hands every key of
    the image entry to ``qwen_vl_utils``, which would take a null budget for a real one."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise GritUserError(
            "writing verl's parquet needs pyarrow, which is not installed (pip install pyarrow; "
            "it also comes with `datasets`)"
        ) from None
    s = pa.string()
    image = [("bytes", pa.binary()), ("path", s)]
    if resized:
        image += [("min_pixels", pa.int64()), ("max_pixels", pa.int64())]
    frame = [("kind", s), ("image_width", pa.int64()), ("image_height", pa.int64())]
    frame += [("extent_x", pa.float64()), ("extent_y", pa.float64())]
    extra = [("split", s), ("index", pa.int64()), ("id", s), ("dataset", s), ("question", s)]
    extra += [("choices", pa.list_(s)), ("answer_type", s), ("frame", pa.struct(frame))]
    extra += [("bboxs", pa.list_(pa.list_(pa.float64())))]
    schema = pa.schema(
        [
            ("data_source", s),
            ("prompt", pa.list_(pa.struct([("role", s), ("content", s)]))),
            ("images", pa.list_(pa.struct(image))),
            ("ability", s),
            ("reward_model", pa.struct([("style", s), ("ground_truth", s)])),
            ("extra_info", pa.struct(extra)),
        ]
    )

    def write(rows: list[dict[str, Any]], path: Path) -> None:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)

    return write


def export_verl(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    family: str,
    image_root: str | os.PathLike | None = None,
    prompt_style: str = "grit",
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    split: str = "train",
) -> int:
    """GRIT jsonl files → one verl parquet file (written atomically); returns the number of rows.

    Each image is embedded as bytes. For families whose boxes are pixels of the resized image (Qwen2/2.5-VL)
    the image entry also carries ``min_pixels``/``max_pixels``, which verl hands to ``qwen_vl_utils`` when it
    resizes the picture, so the frame written here is the one the model sees.
    """
    from grit.data.schema import default_image_root, read_jsonl
    from grit.models import get_family
    from grit.models.generate import user_text

    fam = get_family(family)
    write = _parquet_writer(fam.frame == "resized")
    lo, hi = min_pixels or fam.min_pixels, max_pixels or fam.max_pixels
    rows: list[dict[str, Any]] = []
    for path in inputs:
        root = default_image_root(path, image_root)
        for rec in read_jsonl(path, image_root=image_root):
            image_path = rec.image_path(root)
            try:
                data = image_path.read_bytes()
            except OSError as e:
                raise GritUserError(
                    f"{path}: record {rec.id!r}: field 'image': cannot read {image_path} ({e})"
                ) from None
            image: dict[str, Any] = {"bytes": data, "path": str(rec.image)}
            if fam.frame == "resized":
                image.update(min_pixels=lo, max_pixels=hi)
            frame = fam.frame_for(rec.width, rec.height, lo, hi)
            text = user_text(rec.question, fam, prompt_style)
            rows.append(verl_row(rec, len(rows), image, frame, text, split))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        write(rows, tmp)
    return len(rows)
