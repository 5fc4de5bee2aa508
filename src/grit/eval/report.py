"""A Markdown + HTML report from one or more evaluation folders (e.g. the base model and the trained one).

The first run is the reference: every other run's numbers carry their difference to it. The gallery shows
the SAME samples for every run (picked by a hash of the sample key, so they do not depend on results), drawn
with :func:`grit.viz.draw_chain` — ground truth dashed, predicted boxes solid in the colours of their text
spans — so a reader sees before/after side by side. Plots are PNG files made with matplotlib's Agg backend.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grit.boxes import Box
from grit.errors import InvalidValue
from grit.eval.predictions import METRICS, PREDICTIONS, PredictionsError, read_predictions
from grit.eval.score import row_chain, score_predictions, score_row
from grit.eval.scorers import is_benchmark

GALLERY_UPSCALE = 384  # tiny images (84 px shapes) are enlarged by a whole factor up to this size
COMPLETION_CHARS = 1200  # completions longer than this are cut in the Markdown gallery

# Paper, Table 1 (Qwen2.5-VL-3B; ACC = GPT-4o judge 0-1 score x 100, GIoU as the paper defines it). Real
# benchmarks only: numbers on other data (e.g. the shapes world) are not comparable.
PAPER_BENCHMARKS = ("vsr", "tallyqa", "gqa", "mathvista", "mme", "ovdeval")
PAPER_TABLE1: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "direct answer": {"vsr": (49.5, 0.0), "tallyqa": (40.8, 0.0), "gqa": (55.4, 0.0), "mathvista": (58.5, None),
                      "mme": (88.9, None), "ovdeval": (None, 0.389)},
    "chain-of-thought prompt": {"vsr": (37.5, 0.122), "tallyqa": (33.2, 0.113), "gqa": (39.5, 0.269),
                                "mathvista": (33.0, None), "mme": (41.3, None), "ovdeval": (None, 0.388)},
    "1-shot GRIT example": {"vsr": (13.2, 0.213), "tallyqa": (36.3, 0.268), "gqa": (20.4, 0.441),
                            "mathvista": (29.1, None), "mme": (24.7, None), "ovdeval": (None, 0.328)},
    "SFT on grounded chains": {"vsr": (59.7, 0.216), "tallyqa": (44.5, 0.284), "gqa": (64.6, 0.475),
                               "mathvista": (45.0, None), "mme": (68.3, None), "ovdeval": (None, 0.391)},
    "GRIT (GRPO-GR, 20 samples)": {"vsr": (72.9, 0.325), "tallyqa": (47.8, 0.447), "gqa": (62.8, 0.485),
                                   "mathvista": (59.8, None), "mme": (89.3, None), "ovdeval": (None, 0.398)},
}  # fmt: skip


# ------------------------------------------------------------------------------------------------ inputs


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict[str, Any]
    rows: dict[str, dict[str, Any]]  # key -> prediction line

    @property
    def datasets(self) -> dict[str, dict[str, Any]]:
        return self.metrics["datasets"]


def load_run(eval_dir: str | os.PathLike, name: str | None = None) -> Run:
    """An evaluation folder: its metrics.json (recomputed from predictions.jsonl when absent) and predictions."""
    path = Path(eval_dir)
    pred = path / PREDICTIONS
    if not pred.is_file():
        raise FileNotFoundError(f"{path}: no {PREDICTIONS} (not an evaluation folder)")
    metrics_file = path / METRICS
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise PredictionsError(f"{metrics_file}: invalid JSON: {e.msg} (line {e.lineno})") from None
    else:
        metrics = score_predictions(pred)
    if "datasets" not in metrics:
        raise PredictionsError(f"{metrics_file}: field 'datasets': missing (not a grit metrics file)")
    # Rescored in memory (stored verdicts kept), so hand-made or older files have every field the report shows.
    rows = {r["key"]: score_row(r) for r in read_predictions(pred)}
    return Run(name or path.name, path, metrics, rows)


def _unique_names(paths: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(paths):
            raise InvalidValue(f"got {len(names)} names for {len(paths)} eval dirs")
        base = list(names)
    else:
        base = [p.resolve().name for p in paths]
    out = []
    for i, n in enumerate(base):
        out.append(n if base.count(n) == 1 else f"{n} ({i + 1})")
    return out


# ------------------------------------------------------------------------------------------------ numbers


@dataclass(frozen=True)
class Metric:
    path: tuple[str, ...]  # keys into a dataset's metrics
    label: str
    scale: int = 1  # 100 for rates shown as percentages
    decimals: int = 1

    def get(self, m: dict[str, Any] | None) -> float | None:
        for k in self.path:
            if not isinstance(m, dict):
                return None
            m = m.get(k)
        return m if isinstance(m, (int, float)) and not isinstance(m, bool) else None

    def fmt(self, v: float) -> str:
        return f"{self.scale * v:.{self.decimals}f}"

    def delta(self, d: float) -> str:
        """A difference from the first run, signed, in the shown unit (percentage points for rates)."""
        return f"{self.scale * d:+.{self.decimals}f}"


ACC = Metric(("acc",), "ACC (%)", scale=100)
GIOU = Metric(("giou",), "GIoU", decimals=3)
ON_OBJECT = Metric(("on_object_rate",), "chain boxes on an object (%)", scale=100)
METRICS_SHOWN = [
    ACC,
    Metric(("judge_score",), "judge score (mean 0–1 score, %)", scale=100),
    GIOU,
    Metric(("matched_iou",), "matched IoU", decimals=3),
    Metric(("whole_image_iou",), "whole-image reference IoU", decimals=3),
    ON_OBJECT,
    Metric(("label_match_rate",), "chain boxes whose label names their object (%)", scale=100),
    Metric(("cross_modal_correlation",), "cross-modal correlation: judge picks the model's boxes (%)", scale=100),
    Metric(("format_rate",), "strict grounded format (%)", scale=100),
    Metric(("tags_rate",), "tags in order (%)", scale=100),
    Metric(("mean_boxes",), "boxes per chain"),
    Metric(("counted_box_acc",), "counted-box accuracy (%)", scale=100),
    Metric(("mean_completion_chars",), "completion length (chars)"),
    Metric(("mean_new_tokens",), "new tokens"),
    Metric(("acc_plus",), "acc+ (judge, %)", scale=100),
    Metric(("mme_official", "acc"), "MME acc (official, %)", scale=100),
    Metric(("mme_official", "acc_plus"), "MME acc+ (official, %)", scale=100),
    Metric(("mme_official", "score"), "MME score (official)"),
    Metric(("mathvista_official", "accuracy"), "MathVista acc (official, %)", scale=100),
]
SUMMARY = [ACC, GIOU, ON_OBJECT]


def _cell(metric: Metric, runs: list[Run], i: int, dataset: str) -> str:
    """``value`` for the first run, ``value (±delta)`` for the others; ``–`` when missing."""
    v = metric.get(runs[i].datasets.get(dataset))
    if v is None:
        return "–"
    ref = metric.get(runs[0].datasets.get(dataset))
    if i == 0 or ref is None:
        return metric.fmt(v)
    return f"{metric.fmt(v)} ({metric.delta(v - ref)})"


def _datasets(runs: list[Run]) -> list[str]:
    names = sorted({d for r in runs for d in r.datasets if d != "all"})
    return [*names, "all"]


def _n(runs: list[Run], dataset: str) -> str:
    ns = [str(r.datasets.get(dataset, {}).get("n", "–")) for r in runs]
    return ns[0] if len(set(ns)) == 1 else " / ".join(ns)


def summary_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per dataset, each summary metric with one column per run."""
    header = ["dataset", "n"] + [f"{m.label} · {r.name}" for m in SUMMARY for r in runs]
    rows = []
    for d in _datasets(runs):
        rows.append([d, _n(runs, d)] + [_cell(m, runs, i, d) for m in SUMMARY for i in range(len(runs))])
    return header, rows


def detail_table(runs: list[Run], dataset: str) -> tuple[list[str], list[list[str]]]:
    """Every metric any run has for ``dataset``, one column per run (deltas vs the first)."""
    header = ["metric"] + [r.name for r in runs]
    rows = []
    for m in METRICS_SHOWN:
        if any(m.get(r.datasets.get(dataset)) is not None for r in runs):
            rows.append([m.label] + [_cell(m, runs, i, dataset) for i in range(len(runs))])
    return header, rows


def answers_table(runs: list[Run], dataset: str) -> tuple[list[str], list[list[str]]]:
    """Most frequent predicted answers per run beside the ground-truth distribution."""
    cols = [r.datasets.get(dataset, {}).get("answers_pred") or [] for r in runs]
    gt = next((r.datasets[dataset].get("answers_gt") for r in runs if dataset in r.datasets), None) or []
    cols.append(gt)
    depth = max((len(c) for c in cols), default=0)
    rows = []
    for k in range(depth):
        rows.append([str(k + 1)] + [f"{_show(c[k][0])} ×{c[k][1]}" if k < len(c) else "" for c in cols])
    return ["#"] + [r.name for r in runs] + ["ground truth"], rows


def _show(answer: str) -> str:
    return repr(answer) if not answer or answer != answer.strip() else answer


def paper_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Paper Table 1 (Qwen2.5-VL-3B) with each run's matching datasets appended as rows (ACC % / GIoU)."""

    def fmt(acc: float | None, giou: float | None) -> str:
        parts = [f"{acc:.1f}" if acc is not None else None, f"{giou:.3f}" if giou is not None else None]
        return " / ".join(p for p in parts if p is not None) or "–"

    header = ["model · method", *PAPER_BENCHMARKS]
    rows = [[f"paper: Qwen2.5-VL-3B · {method}"] + [fmt(*vals[b]) for b in PAPER_BENCHMARKS]
            for method, vals in PAPER_TABLE1.items()]  # fmt: skip
    for r in runs:
        cells = []
        for b in PAPER_BENCHMARKS:
            d = next((r.datasets[n] for n in r.datasets if n != "all" and is_benchmark(n, b)), None)
            if d is None:
                cells.append("–")
                continue
            acc = d.get("judge_score", d.get("acc"))  # the mean 0–1 score, as the paper's ACC
            cells.append(fmt(100 * acc if acc is not None else None, d.get("giou")))
        rows.append([f"this run: {r.name}", *cells])
    return header, rows


def _matches_paper(runs: list[Run]) -> bool:
    return any(is_benchmark(n, b) for r in runs for n in r.datasets for b in PAPER_BENCHMARKS)


# ------------------------------------------------------------------------------------------------ gallery


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "x"


def gallery_keys(runs: list[Run], dataset: str, n: int) -> list[str]:
    """``n`` sample keys of ``dataset`` present in every run, chosen by a hash of the key (stable, and blind
    to the results so it cannot cherry-pick); topped up from the first run when runs share too few."""
    first = [k for k, r in runs[0].rows.items() if r.get("dataset") == dataset]
    shared = [k for k in first if all(k in r.rows for r in runs[1:])]

    def order(k: str) -> str:
        return hashlib.sha1(k.encode()).hexdigest()

    keys = sorted(shared, key=order)[:n]
    if len(keys) < n:
        keys += sorted((k for k in first if k not in keys), key=order)[: n - len(keys)]
    return keys


@dataclass
class Shot:
    run: str
    row: dict[str, Any] | None
    png: str | None  # path relative to the report folder
    note: str | None = None  # why there is no picture


def _draw(row: dict[str, Any], png: Path) -> str | None:
    """Draw one prediction's chain; returns why not when the image cannot be read."""
    from PIL import Image

    from grit.viz import draw_chain

    path = Path(row.get("image_path") or row.get("image", ""))
    if not path.is_file():
        return f"image not found: {path}"
    gts = [Box(*b) for b in row.get("bboxs") or []]
    with Image.open(path) as im:
        drawn = draw_chain(im, row_chain(row), gt_boxes=gts, upscale_to=GALLERY_UPSCALE)
    png.parent.mkdir(parents=True, exist_ok=True)
    drawn.save(png)
    return None


def build_gallery(runs: list[Run], out_dir: Path, n: int) -> dict[str, list[tuple[str, list[Shot]]]]:
    """dataset -> [(key, one Shot per run)]; PNGs under ``out_dir/gallery/<dataset>/``."""
    gallery: dict[str, list[tuple[str, list[Shot]]]] = {}
    if n <= 0:
        return gallery
    for d in _datasets(runs)[:-1]:
        items = []
        for i, key in enumerate(gallery_keys(runs, d, n)):
            shots = []
            for run in runs:
                row = run.rows.get(key)
                if row is None:
                    shots.append(Shot(run.name, None, None, "not evaluated in this run"))
                    continue
                rel = f"gallery/{_slug(d)}/{i:02d}_{_slug(run.name)}.png"
                note = _draw(row, out_dir / rel)
                shots.append(Shot(run.name, row, None if note else rel, note))
            items.append((key, shots))
        gallery[d] = items
    return gallery


# -------------------------------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metrics(runs: list[Run], path: Path) -> Path:
    """Grouped bars: ACC (%) and GIoU per dataset, one bar per run."""
    plt = _pyplot()
    datasets = _datasets(runs)
    panels = [(ACC, 100.0), (GIOU, 1.0)]
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.6 * len(datasets) * 2), 4.2))
    width = 0.8 / len(runs)
    for ax, (metric, scale) in zip(axes, panels, strict=True):
        names = [d for d in datasets if any(metric.get(r.datasets.get(d)) is not None for r in runs)]
        for i, run in enumerate(runs):
            vals = [metric.get(run.datasets.get(d)) for d in names]
            xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(names))]
            bars = ax.bar(xs, [scale * v if v is not None else 0.0 for v in vals], width, label=run.name)
            ax.bar_label(bars, [metric.fmt(v) if v is not None else "" for v in vals], fontsize="x-small")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(metric.label)
        ax.set_ylim(0, 1.12 * scale)  # headroom for the value labels of full bars
        ax.set_yticks([scale * t / 5 for t in range(6)])
        ax.grid(axis="y", alpha=0.3)
        if not names:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(runs), 6), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


REWARD_KEY = re.compile(r"^rewards/(.+)/mean$")


def read_training_log(log: Sequence[dict[str, Any]] | str | os.PathLike) -> list[dict[str, Any]]:
    """TRL log history: a list of dicts, or a path to grit's log_history.json or TRL's trainer_state.json."""
    if isinstance(log, (str, os.PathLike)):
        try:
            state = json.loads(Path(log).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InvalidValue(f"{log}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
        if isinstance(state, list):  # grit train's log_history.json
            return state
        if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
            raise InvalidValue(f"{log}: field 'log_history': missing (expected a trainer_state.json)")
        return state["log_history"]
    return list(log)


def plot_rewards(log: Sequence[dict[str, Any]], path: Path) -> list[str]:
    """One small curve per reward term (``rewards/<name>/mean`` keys, plus the total ``reward``) against the
    step; returns the terms plotted (none plotted and no file written when the log has no reward keys)."""
    terms: dict[str, list[tuple[float, float]]] = {}
    for i, entry in enumerate(log):
        step = entry.get("step", i)
        for k, v in entry.items():
            m = REWARD_KEY.match(k)
            name = m.group(1) if m else ("total reward" if k == "reward" else None)
            if name is not None and isinstance(v, (int, float)):
                terms.setdefault(name, []).append((step, float(v)))
    if not terms:
        return []
    plt = _pyplot()
    cols = min(3, len(terms))
    rows = -(-len(terms) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (name, pts) in zip(axes.flat, terms.items(), strict=False):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None)
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(terms) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return list(terms)


# ------------------------------------------------------------------------------------------------ document
# One document model, two renderers: the report's content is built once as a list of blocks; markdown and
# HTML only decide how each block looks. Text may hold **bold** and `code` (markdown's own syntax).

ABOUT_ACC = (
    "ACC is the share of answers the judge accepts: its verdict made binary (score > 0), which is what "
    "GRIT's trainer rewards. Judge score is the judge's 0–1 score averaged, which is what the paper's "
    "Table 1 reports as ACC; the two agree for the offline rule judge, whose score is 0 or 1. GIoU is the "
    "union-region IoU of the chain's boxes with the ground truth (our reading of the paper). Deltas in "
    "parentheses are against the first run (percentage points for rates)."
)
ABOUT_PAPER = (
    "Paper ACC is GPT-4o's 0–1 score averaged ×100 (not binarised) on the real benchmarks; the rows of these "
    "runs show their judge score the same way, from the judge named above. Cells are ACC / GIoU."
)


# A block is (kind, content): ("h1" | "h2" | "h3", text), ("p" | "note", text), ("ul", [text]),
# ("table", (header, rows)), ("img", (src, alt)), ("example", (key, question, answer, shots)).
Block = tuple[str, Any]


def _verdict(row: dict[str, Any]) -> str:
    parts = ["✓ correct" if row.get("correct") else "✗ wrong"]
    if row.get("giou") is not None:
        parts.append(f"GIoU {row['giou']:.3f}")
    n = row.get("n_boxes", 0)
    parts.append(f"{n} box{'' if n == 1 else 'es'}")
    if not row.get("strict_format"):
        parts.append("not grounded format")
    return " · ".join(parts)


def _run_lines(runs: list[Run]) -> list[str]:
    out = []
    for r in runs:
        info = r.metrics.get("run", {})
        bits = [f"judge: {r.metrics.get('judge')}"]
        for k in ("model", "prompt", "max_new_tokens", "temperature"):
            if k in info:
                bits.append(f"{k}: {info[k]}")
        out.append(f"**{r.name}** (`{r.path}`) — " + ", ".join(bits))
    return out


def document(
    title: str,
    runs: list[Run],
    gallery: dict[str, list[tuple[str, list[Shot]]]],
    plots: dict[str, str],
    reward_terms: list[str] | None,
    show_paper: bool,
    extra: Sequence[Block] = (),
) -> list[Block]:
    """The report's content, in order; ``extra`` blocks (e.g. the demo's learning curve) follow the rewards."""
    doc: list[Block] = [("h1", title), ("ul", _run_lines(runs)), ("note", ABOUT_ACC)]
    doc += [("h2", "Summary"), ("table", summary_table(runs))]
    if "metrics" in plots:
        doc.append(("img", (plots["metrics"], "ACC and GIoU per dataset")))
    if show_paper:
        doc += [("h2", "Beside the paper (Table 1, Qwen2.5-VL-3B)"), ("note", ABOUT_PAPER)]
        doc.append(("table", paper_table(runs)))
    if reward_terms is not None:
        curves = ("img", (plots["rewards"], "reward curves")) if reward_terms else None
        doc += [("h2", "Training rewards"), curves or ("p", "(no reward keys in the log)")]
    doc += extra
    for d in _datasets(runs):
        doc += [("h2", d), ("table", detail_table(runs, d))]
        doc += [("h3", "Most frequent answers"), ("table", answers_table(runs, d))]
        for key, shots in gallery.get(d, []):
            row0 = next(s.row for s in shots if s.row is not None)
            doc.append(("example", (key, row0["question"], str(row0["answer"]), shots)))
    return doc


# ----------------------------------------------------------------------------------------------- markdown


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_example(key: str, question: str, answer: str, shots: list[Shot]) -> str:
    out = [f"### {key}", "", f"**Q:** {question}  ", f"**ground truth:** {answer}", ""]
    pics = [f"![{s.run}]({s.png})" if s.png else (s.note or "") for s in shots]
    verdicts = [f"answer: {_show(s.row['answer_pred'])} · {_verdict(s.row)}" if s.row else "" for s in shots]
    out.append(md_table([s.run for s in shots], [pics, verdicts]))
    for s in shots:
        if s.row is not None:
            text = s.row["completion"]
            if len(text) > COMPLETION_CHARS:
                text = text[:COMPLETION_CHARS] + " …"
            out += ["", f"{s.run}:", "", "```text", text.replace("```", "'''"), "```"]
    return "\n".join(out)


MARKDOWN = {
    "h1": "# {}".format,
    "h2": "## {}".format,
    "h3": "### {}".format,
    "p": str,
    "note": str,
    "ul": lambda items: "\n".join(f"- {item}" for item in items),
    "table": lambda t: md_table(*t),
    "img": lambda img: f"![{img[1]}]({img[0]})",
    "example": lambda ex: _md_example(*ex),
}


def to_markdown(doc: list[Block]) -> str:
    return "\n\n".join(MARKDOWN[kind](content) for kind, content in doc) + "\n"


# ---------------------------------------------------------------------------------------------------- html

PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table.grit-table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
table.grit-table th, table.grit-table td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
table.grit-table th { background: #f2f2f2; }
table.grit-table td:first-child, table.grit-table th:first-child { text-align: left; }
.grit-runs { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
.grit-runs > div { flex: 1 1 28em; min-width: 20em; }
.grit-meta { color: #555; font-size: .9em; }
.grit-q { background: #f7f7f7; padding: .4em .6em; border-radius: 4px; }
"""


def _inline(text: str) -> str:
    """Escaped text with markdown's **bold** and `code` as HTML."""
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="grit-table"><tr>{head}</tr>{body}</table>'


def _chain_fragment(shot: Shot) -> str:
    """The chain as coloured HTML (viz.chain_html) with its drawn picture, without the repeated style block
    (the page includes viz.CSS once)."""
    from grit.viz import chain_html

    e = html.escape
    if shot.row is None:
        return f"<div><h4>{e(shot.run)}</h4><p>{e(shot.note or '')}</p></div>"
    row = shot.row
    frag = chain_html(row_chain(row), image_src=shot.png, title=f"{shot.run}: {_verdict(row)}")
    if frag.startswith("<style>") and "</style>" in frag:
        frag = frag.split("</style>", 1)[1]
    note = f'<p class="grit-meta">{e(shot.note)}</p>' if shot.note else ""
    return f"<div>{note}{frag}</div>"


def _html_example(key: str, question: str, answer: str, shots: list[Shot]) -> str:
    e = html.escape
    head = f"<h3>{e(key)}</h3><div class='grit-q'><b>Q:</b> {e(question)}<br><b>ground truth:</b> {e(answer)}</div>"
    return head + '\n<div class="grit-runs">' + "".join(map(_chain_fragment, shots)) + "</div>"


HTML = {
    "h1": lambda t: f"<h1>{html.escape(t)}</h1>",
    "h2": lambda t: f"<h2>{html.escape(t)}</h2>",
    "h3": lambda t: f"<h3>{html.escape(t)}</h3>",
    "p": lambda t: f"<p>{_inline(t)}</p>",
    "note": lambda t: f'<p class="grit-meta">{_inline(t)}</p>',
    "ul": lambda items: "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>",
    "table": lambda t: html_table(*t),
    "img": lambda img: f'<img src="{html.escape(img[0])}" alt="{html.escape(img[1])}">',
    "example": lambda ex: _html_example(*ex),
}


def to_html(title: str, doc: list[Block]) -> str:
    from grit.viz import CSS

    body = "\n".join(HTML[kind](content) for kind, content in doc)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{PAGE_CSS}{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


# ----------------------------------------------------------------------------------------------------- api


def write_report(
    eval_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    gallery_n: int = 6,
    title: str = "grit evaluation report",
    training_log: Sequence[dict[str, Any]] | str | os.PathLike | None = None,
    paper: bool | None = None,
    extra: Sequence[Block] = (),
) -> tuple[Path, Path]:
    """Write ``out_dir/report.md`` and ``out_dir/report.html`` (+ ``plots/`` and ``gallery/`` PNGs).

    ``names`` label the runs (default: folder names); the first run is the reference for deltas.
    ``training_log``: TRL log history (list of dicts or a trainer_state.json path) → reward curves.
    ``paper``: lay the runs beside the paper's Table 1 (default: when a dataset is named like one of its
    benchmarks). ``extra``: more blocks (see :data:`Block`), placed after the reward curves.
    """
    if not eval_dirs:
        raise InvalidValue("write_report needs at least one eval dir")
    paths = [Path(p) for p in eval_dirs]
    runs = [load_run(p, n) for p, n in zip(paths, _unique_names(paths, names), strict=True)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {"metrics": plot_metrics(runs, out / "plots" / "acc_giou.png").relative_to(out).as_posix()}
    reward_terms = None
    if training_log is not None:
        reward_terms = plot_rewards(read_training_log(training_log), out / "plots" / "rewards.png")
        plots["rewards"] = "plots/rewards.png"
    gallery = build_gallery(runs, out, gallery_n)
    show_paper = _matches_paper(runs) if paper is None else paper
    md_path, html_path = out / "report.md", out / "report.html"
    doc = document(title, runs, gallery, plots, reward_terms, show_paper, extra)
    md_path.write_text(to_markdown(doc), encoding="utf-8")
    html_path.write_text(to_html(title, doc), encoding="utf-8")
    return md_path, html_path
