"""``grit demo``: GRPO-GR on 20 shapes triplets turns a tiny base model's weak grounded thinking into
grounded reasoning, offline on CPU, with a before/after report.

Steps: generate the shapes data (seeded) → evaluate the shipped base with the GRIT prompt and with direct
answers → GRPO-GR on 20 balanced triplets (answer-only supervision; ground-truth boxes are used only by the
counting reward, as in the paper) → evaluate again on the held-out sets → the learning curve (the checkpoints
saved during training, on a fixed stratified subset of the held-out sets) → report. Every number in the
report is measured in this run; nothing is tuned on the held-out sets.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grit.errors import InvalidValue
from grit.files import atomic_write

DEFAULT_BASE = "checkpoints/shapes-base-4e/model"  # the shipped shapes base (BENCHMARKS.md: stage 4)
DEFAULT_CONFIG = "configs/demo.yaml"
DIRECT_PROMPT = "Question: {question} Answer with a single word or number."
ABLATIONS = {
    "format": ["grounded_reasoning_format", "grounded_region_format"],
    "counting": ["grounded_target_counting"],
}


@dataclass
class DemoOptions:
    out: str = "runs/demo"
    model: str | None = None  # default: the config's model (the shipped shapes base)
    config: str = DEFAULT_CONFIG
    steps: int | None = None
    seed: int = 0
    n_train: int = 20
    n_eval: int = 40  # per style
    styles: list[str] = field(
        default_factory=lambda: [
            "count",
            "relation",
            "exist",
            "position",
            "attribute",
            "arithmetic",
            "locate",
        ]
    )
    ablate: str | None = None
    n_sampled: int = 100  # questions for the sampled (T=1) format rate
    max_new_tokens: int | None = None  # None: the training config's max_completion_length (same budget)
    overrides: list[str] = field(default_factory=list)
    curve_every: int = 50  # learning curve: a checkpoint every so many GRPO steps (0: no curve)
    curve_n: int = 10  # held-out questions per style at the intermediate checkpoints (0: all of them)


def _repo_path(p: str) -> str:
    """Resolve shipped paths relative to the repository when run from elsewhere."""
    path = Path(p)
    if path.exists() or path.is_absolute():
        return str(path)
    root = Path(__file__).resolve().parents[2]
    return str(root / p) if (root / p).exists() else str(path)


def run_demo(opts: DemoOptions, log=print) -> dict:
    from grit.data.shapes import balanced_train_set, generate_split
    from grit.eval.report import write_report
    from grit.eval.run import evaluate
    from grit.train.config import load_config
    from grit.train.trainer import train

    if opts.ablate and opts.ablate not in ABLATIONS:
        raise InvalidValue(f"--ablate must be one of {sorted(ABLATIONS)}, got {opts.ablate!r}")
    t0 = time.time()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    # A demo run starts clean: resumable evals would otherwise reuse a previous run's predictions for the
    # same model path (runs/demo/train/final) and report a model this run did not train.
    for stale in ["train", "report", *(p.name for p in out.glob("eval_*"))]:
        if (out / stale).exists():
            shutil.rmtree(out / stale)
    timings: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        timings[name] = round(time.time() - since, 1)
        return time.time()

    # 1. data
    t = time.time()
    data = out / "data"
    train_path = balanced_train_set(data, n=opts.n_train, seed=opts.seed)
    tests = generate_split(data, opts.n_eval, seed=opts.seed + 1000, styles=opts.styles)
    test_paths = [str(p) for p in tests.values()]
    sampled = generate_split(
        data, max(1, opts.n_sampled // 2), seed=opts.seed + 2000, styles=["count", "relation"], name="sampled"
    )
    sampled_paths = [str(p) for p in sampled.values()]
    t = mark("data", t)

    overrides = [f"output_dir={out / 'train'}", f"train_data={train_path}", f"grpo.seed={opts.seed}"]
    if opts.model:
        overrides.append(f"model={opts.model}")
    if opts.steps is not None:
        overrides.append(f"grpo.max_steps={opts.steps}")
    if opts.curve_every > 0:  # the trainer's own checkpoints (LoRA adapters) are the curve's points: keep all
        overrides += [f"grpo.save_steps={opts.curve_every}", "grpo.save_total_limit=null"]
    cfg = load_config(_repo_path(opts.config), overrides + list(opts.overrides))
    cfg.model = _repo_path(cfg.model)
    if not Path(cfg.model).exists():
        raise FileNotFoundError(
            f"{cfg.model}: base model not found (pretrain it with `grit pretrain-shapes`)"
        )
    if opts.ablate:
        cfg.rewards = [r for r in cfg.rewards if r not in ABLATIONS[opts.ablate]]
    budget = opts.max_new_tokens or int(cfg.grpo.get("max_completion_length", 200))
    ev = dict(max_new_tokens=budget, progress=True)

    # 2. the base: GRIT prompt (greedy and sampled) and direct answers
    log(f"[1/5] evaluating the base {cfg.model}")
    evaluate(
        cfg.model,
        test_paths,
        out / "eval_base_direct",
        prompt=DIRECT_PROMPT,
        max_new_tokens=12,
        progress=True,
    )
    evaluate(cfg.model, test_paths, out / "eval_base", prompt="grit", **ev)
    evaluate(
        cfg.model, sampled_paths, out / "eval_base_t1", prompt="grit", temperature=1.0, seed=opts.seed, **ev
    )
    t = mark("eval_base", t)

    # 3. GRPO-GR
    log(f"[2/5] GRPO-GR on {opts.n_train} triplets, rewards: {', '.join(cfg.rewards)}")
    final = train(cfg)
    t = mark("train", t)

    # 4. after
    log("[3/5] evaluating the trained model")
    evaluate(final, test_paths, out / "eval_after", prompt="grit", **ev)
    evaluate(
        final, sampled_paths, out / "eval_after_t1", prompt="grit", temperature=1.0, seed=opts.seed, **ev
    )
    t = mark("eval_after", t)

    # 5. the learning curve: intermediate checkpoints on a subset (the full sets cost ~25 s per checkpoint)
    curve = None
    steps = curve_steps(int(cfg.grpo.get("max_steps", 0)), opts.curve_every)
    if steps:
        log(f"[4/5] learning curve: checkpoints at steps {', '.join(map(str, steps[1:-1]))}")
        subset = curve_subset(tests, opts.curve_n, seed=opts.seed)
        for step in steps[1:-1]:
            ckpt = Path(cfg.output_dir) / f"checkpoint-{step}"
            evaluate(str(ckpt), subset, out / f"eval_step{step}", prompt="grit", **ev)
        curve = learning_curve(out, steps, subset)
        atomic_write(out / "learning_curve.json", json.dumps(curve, indent=1))
        t = mark("curve", t)

    log("[5/5] writing the report")
    history = json.loads((Path(cfg.output_dir) / "log_history.json").read_text())
    md, html = write_report(
        [str(out / "eval_base_direct"), str(out / "eval_base"), str(out / "eval_after")],
        out / "report",
        names=["base · direct answer", "base · GRIT prompt", "GRPO-GR · GRIT prompt"],
        training_log=history,
        title="grit demo: GRPO-GR on 20 shapes triplets"
        + (f" (ablation: no {opts.ablate} reward)" if opts.ablate else ""),
        extra=curve_blocks(curve, out / "report") if curve else (),
    )
    mark("report", t)
    timings["total"] = round(time.time() - t0, 1)
    summary = {
        "options": asdict(opts),
        "rewards": cfg.rewards,
        "base": cfg.model,
        "trained": final,
        "timings_s": timings,
        "metrics": {
            name: json.loads((out / name / "metrics.json").read_text())
            for name in ["eval_base_direct", "eval_base", "eval_base_t1", "eval_after", "eval_after_t1"]
        },
        "learning_curve": curve,
        "report": [str(md), str(html)],
    }
    atomic_write(out / "summary.json", json.dumps(summary, indent=1))
    return summary


# ------------------------------------------------------------------------------------------ summary tables
# The before/after tables printed at the end of `grit demo` and kept in BENCHMARKS.md
# (benchmarks/demo_table.py prints them for finished runs). The "all" row is the evaluation's own, over every
# question: accuracy and format over all of them, chain GIoU over the questions that have ground-truth boxes.


def load_metrics(run: Path, name: str) -> dict:
    """Per-dataset metrics of one evaluation folder, with the evaluation's own pooled "all" row."""
    return json.loads((run / name / "metrics.json").read_text())["datasets"]


def sampled_all(run: Path, name: str) -> dict:
    """The "all" row of an optional evaluation (the sampled ones): empty when the run has none."""
    return load_metrics(run, name)["all"] if (run / name).is_dir() else {}


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def top(answers: list, k: int = 3) -> str:
    return ", ".join(f"{a} ×{n}" for a, n in answers[:k])


def demo_table(run: Path) -> str:
    direct, base, after = (load_metrics(run, n) for n in ("eval_base_direct", "eval_base", "eval_after"))
    rows = [
        "| style | base direct ACC | ACC, GRIT prompt: base → trained | strict format % | chain GIoU "
        "| whole-image IoU | boxes/chain | boxes on an object % | boxes match their words %: base → trained "
        "| top answers after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    names = sorted(n for n in after if n != "all")
    for name, d, b, a in [(n, direct[n], base[n], after[n]) for n in names] + [
        ("**all**", direct["all"], base["all"], after["all"])
    ]:
        rows.append(
            f"| {name} | {pct(d['acc'])} | {pct(b['acc'])} → {pct(a['acc'])} "
            f"| {pct(b['format_rate'])} → {pct(a['format_rate'])} | {num(b['giou'])} → {num(a['giou'])} "
            f"| {num(a['whole_image_iou'])} | {a['mean_boxes']:.2f} | {pct(a.get('on_object_rate'))} "
            f"| {pct(b.get('label_match_rate'))} → {pct(a.get('label_match_rate'))} | {top(a['answers_pred'])} |"
        )
    lines = ["\n".join(rows)]
    b1, a1 = sampled_all(run, "eval_base_t1"), sampled_all(run, "eval_after_t1")
    if b1 and a1:
        lines.append(
            f"Sampled at T = 1 ({a1['n']} questions): strict format {pct(b1['format_rate'])}% → "
            f"{pct(a1['format_rate'])}%, ACC {pct(b1['acc'])}% → {pct(a1['acc'])}%, chain GIoU "
            f"{num(b1['giou'])} → {num(a1['giou'])}, boxes matching their words "
            f"{pct(b1.get('label_match_rate'))}% → {pct(a1.get('label_match_rate'))}%."
        )
    curve = run / "learning_curve.json"
    if curve.is_file():
        from grit.eval.report import md_table

        c = json.loads(curve.read_text())
        lines += [f"Learning curve. {curve_note(c)}", md_table(*curve_table(c))]
    summary = run / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        lines.append(
            f"Wall time {s['timings_s']['total']:.0f} s ({s['timings_s']}); rewards: {', '.join(s['rewards'])}."
        )
    return "\n\n".join(lines)


def ablation_table(runs: list[Path]) -> str:
    rows = [
        "| run | strict format % (greedy / T=1) | chain GIoU | boxes/chain | boxes = gt count (counting set) "
        "| ACC (counting) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        after = load_metrics(run, "eval_after")
        a = after["all"]
        t1 = sampled_all(run, "eval_after_t1")
        count = after.get("shapes_count", {})
        rows.append(
            f"| {run.name} | {pct(a['format_rate'])} / {pct(t1.get('format_rate'))} | {num(a['giou'])} "
            f"| {a['mean_boxes']:.2f} | {pct(a['counted_box_acc'])} | {pct(a['acc'])} ({pct(count.get('acc'))}) |"
        )
    return "\n".join(rows)


def seeds_table(runs: list[Path]) -> str:
    """One row per demo run (seeds, or configs on the same seed): the issue's headline numbers side by side."""
    from grit.eval.predictions import PREDICTIONS, read_predictions

    rows = [
        "| run | strict format % greedy (T=1) | chain GIoU all / count / locate (whole-image ref.) "
        "| ACC GRIT: base → trained | counting ACC (direct) | boxes match their words % "
        "| chains cut at the token budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        direct, base, after = (load_metrics(run, n) for n in ("eval_base_direct", "eval_base", "eval_after"))
        t1 = sampled_all(run, "eval_after_t1")
        a, c, loc = after["all"], after.get("shapes_count", {}), after.get("shapes_locate", {})
        preds = read_predictions(run / "eval_after" / PREDICTIONS)
        cut = sum(not r.get("finished", True) for r in preds)
        rows.append(
            f"| {run.name} | {pct(a['format_rate'])} ({pct(t1.get('format_rate'))}) "
            f"| {num(a['giou'])} / {num(c.get('giou'))} / {num(loc.get('giou'))} "
            f"({num(a['whole_image_iou'])} / {num(c.get('whole_image_iou'))} / {num(loc.get('whole_image_iou'))}) "
            f"| {pct(base['all']['acc'])} → {pct(a['acc'])} "
            f"| {pct(c.get('acc'))} ({pct(direct.get('shapes_count', {}).get('acc'))}) "
            f"| {pct(a.get('label_match_rate'))} | {cut} / {len(preds)} |"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------- learning curve
# As in the paper's rebuttal table: held-out ACC, chain GIoU and strict format at steps 0, 50, 100 and 150.
# The intermediate checkpoints are evaluated on a fixed stratified subset of the held-out sets (the full sets
# would add ~25 s per checkpoint to a demo meant to take under 5 minutes); steps 0 and the last are evaluated on
# the full sets anyway, and the curve reads their subset rows from those predictions, so every point of the
# curve is the same questions.

CURVE_METRICS = [
    ("acc", "ACC %", pct),
    ("giou", "chain GIoU", num),
    ("format_rate", "strict format %", pct),
    ("label_match_rate", "boxes match their words %", pct),
]


def curve_steps(max_steps: int, every: int) -> list[int]:
    """0, every multiple of ``every`` below ``max_steps``, and ``max_steps``; [] when there is no step between."""
    if every <= 0 or max_steps <= every:
        return []
    return [0, *range(every, max_steps, every), max_steps]


def curve_subset(tests: dict[str, Path], n: int, seed: int) -> list[str]:
    """``n`` held-out records per style, drawn once with the run's seed (never from results), written as
    ``curve_<style>.jsonl`` beside the full sets (their images); ``n`` = 0 or more than a set holds: all."""
    from grit.data.schema import nonblank_lines

    paths = []
    for style, path in tests.items():
        lines = [line for _, line in nonblank_lines(Path(path).read_text(encoding="utf-8"))]
        if 0 < n < len(lines):
            pick = sorted(random.Random(f"{seed}-curve-{style}").sample(range(len(lines)), n))
            path = Path(path).parent / f"curve_{style}.jsonl"
            path.write_text("".join(lines[i] + "\n" for i in pick))
        paths.append(str(path))
    return paths


def learning_curve(run: Path, steps: list[int], subset: list[str]) -> dict:
    """The curve's points: each step's metrics on the subset, and on the full sets for the first and last."""
    from grit.eval.predictions import PREDICTIONS, read_predictions
    from grit.eval.samples import load_samples
    from grit.eval.score import compute_metrics, score_row

    keys = {s.key for s in load_samples(subset)}
    names = {s: f"eval_step{s}" for s in steps[1:-1]} | {steps[0]: "eval_base", steps[-1]: "eval_after"}
    points = []
    for step in steps:
        name = names[step]
        rows = [score_row(r) for r in read_predictions(run / name / PREDICTIONS) if r["key"] in keys]
        if len(rows) != len(keys):
            raise InvalidValue(f"{run / name}: {len(rows)} of the curve's {len(keys)} questions evaluated")
        sub = compute_metrics(rows)["datasets"]["all"]
        full = load_metrics(run, name)["all"] if step in (steps[0], steps[-1]) else {}
        points.append(
            {
                "step": step,
                "eval": name,
                "subset": {k: sub.get(k) for k, _, _ in CURVE_METRICS},
                "full": {k: full.get(k) for k, _, _ in CURVE_METRICS} if full else None,
            }
        )
    n_full = load_metrics(run, "eval_after")["all"]["n"]
    return {"steps": steps, "n_subset": len(keys), "n_full": n_full, "subset_files": subset, "points": points}


def curve_table(curve: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per step, subset values, and the full sets' after "·" where evaluated."""
    header = ["step"] + [label for _, label, _ in CURVE_METRICS]
    rows = []
    for p in curve["points"]:
        cells = [str(p["step"])]
        for key, _, fmt in CURVE_METRICS:
            cell = fmt(p["subset"][key])
            if p["full"]:
                cell += f" · all: {fmt(p['full'][key])}"
            cells.append(cell)
        rows.append(cells)
    return header, rows


def curve_note(curve: dict) -> str:
    return (
        f"Held-out questions, greedy, GRIT prompt. Each step on the same fixed stratified subset "
        f"({curve['n_subset']} questions, drawn once with the run's seed); steps {curve['steps'][0]} and "
        f"{curve['steps'][-1]} also on all {curve['n_full']} (after “· all:”). Checkpoints: the trainer's "
        f"LoRA adapters at each step (train/checkpoint-N; `grit eval` loads them)."
    )


def plot_curve(curve: dict, path: Path) -> Path:
    """One panel per curve metric against the step: the subset as a line, the full sets as open squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(3.4 * len(CURVE_METRICS), 3.0))
    pts = curve["points"]
    for ax, (key, label, _) in zip(axes, CURVE_METRICS, strict=True):
        scale = 100.0 if label.endswith("%") else 1.0
        xy = [(p["step"], scale * p["subset"][key]) for p in pts if p["subset"][key] is not None]
        ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=f"subset ({curve['n_subset']})")
        full = [(p["step"], scale * p["full"][key]) for p in pts if p["full"] and p["full"][key] is not None]
        ax.plot([x for x, _ in full], [y for _, y in full], "s", mfc="none", label=f"all ({curve['n_full']})")
        ax.set_title(label, fontsize="medium")
        ax.set_xlabel("GRPO step")
        ax.set_xticks(curve["steps"])
        ax.set_ylim(0, 1.05 * scale)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_blocks(curve: dict, report_dir: Path) -> list[tuple]:
    """The report's "Learning curve" section (write_report's blocks), with its plot in ``report_dir/plots``."""
    png = plot_curve(curve, Path(report_dir) / "plots" / "learning_curve.png")
    return [
        ("h2", "Learning curve"),
        ("note", curve_note(curve)),
        ("table", curve_table(curve)),
        ("img", (png.relative_to(report_dir).as_posix(), "learning curve")),
    ]
