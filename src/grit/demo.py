"""``grit demo``: GRPO-GR on 20 shapes triplets turns a tiny base model's weak grounded thinking into
grounded reasoning, offline on CPU, with a before/after report.

Steps: generate the shapes data (seeded) → evaluate the shipped base with the GRIT prompt and with direct
answers → GRPO-GR on 20 balanced triplets (answer-only supervision; ground-truth boxes are used only by the
counting reward, as in the paper) → evaluate again on the held-out sets → report. Every number in the
report is measured in this run; nothing is tuned on the held-out sets.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grit.errors import InvalidValue

DEFAULT_BASE = "checkpoints/shapes-base-3b/model"  # the shipped shapes base (BENCHMARKS.md: stage 3)
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
    log(f"[1/4] evaluating the base {cfg.model}")
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
    log(f"[2/4] GRPO-GR on {opts.n_train} triplets, rewards: {', '.join(cfg.rewards)}")
    final = train(cfg)
    t = mark("train", t)

    # 4. after
    log("[3/4] evaluating the trained model")
    evaluate(final, test_paths, out / "eval_after", prompt="grit", **ev)
    evaluate(
        final, sampled_paths, out / "eval_after_t1", prompt="grit", temperature=1.0, seed=opts.seed, **ev
    )
    t = mark("eval_after", t)

    log("[4/4] writing the report")
    history = json.loads((Path(cfg.output_dir) / "log_history.json").read_text())
    md, html = write_report(
        [str(out / "eval_base_direct"), str(out / "eval_base"), str(out / "eval_after")],
        out / "report",
        names=["base · direct answer", "base · GRIT prompt", "GRPO-GR · GRIT prompt"],
        training_log=history,
        title="grit demo: GRPO-GR on 20 shapes triplets"
        + (f" (ablation: no {opts.ablate} reward)" if opts.ablate else ""),
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
        "report": [str(md), str(html)],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
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
        preds = (run / "eval_after" / "predictions.jsonl").read_text().splitlines()
        cut = sum(not json.loads(line).get("finished", True) for line in preds if line.strip())
        rows.append(
            f"| {run.name} | {pct(a['format_rate'])} ({pct(t1.get('format_rate'))}) "
            f"| {num(a['giou'])} / {num(c.get('giou'))} / {num(loc.get('giou'))} "
            f"({num(a['whole_image_iou'])} / {num(c.get('whole_image_iou'))} / {num(loc.get('whole_image_iou'))}) "
            f"| {pct(base['all']['acc'])} → {pct(a['acc'])} "
            f"| {pct(c.get('acc'))} ({pct(direct.get('shapes_count', {}).get('acc'))}) "
            f"| {pct(a.get('label_match_rate'))} | {cut} / {len(preds)} |"
        )
    return "\n".join(rows)
