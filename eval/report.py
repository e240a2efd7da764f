"""Write the evaluation report: report.json, report.md (with definitions) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

RETRIEVAL_COLUMNS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
ANSWER_COLUMNS = ("correct", "correct_and_cited", "answer_language_accuracy", "refusal_recall", "refusal_precision",
                  "false_refusal_rate", "citation_precision", "citation_recall", "quote_verbatim_rate", "em", "f1",
                  "contains", "latency_p50_s", "latency_p95_s", "first_token_p50_s")

ANSWER_DEFINITIONS = """
Answers (per set; answerable questions unless said otherwise):
  correct                  the answer is not refused and contains every expected fact (seeds) or the gold span (PIAF, = contains)
  correct_and_cited        correct, and one of its citations is a gold document
  answer_language_accuracy the answer (or refusal) is in the question's language (py3langid), over all questions
  refusal_recall           unanswerable questions that were refused
  refusal_precision        refused questions that were indeed unanswerable
  false_refusal_rate       answerable questions that were refused
  citation_precision       cited passages that are a gold document or contain the gold answer (answered questions)
  citation_recall          answerable questions whose answer cites a gold document
  quote_verbatim_rate      citations whose quote equals the document text at its offsets
  latency_*                seconds per question (p50 / p95), first_token: first generated text;
                           measured after the model is loaded and warmed up, as in the chat
"""


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def retrieval_rows(report: dict) -> list[tuple[str, str, str, dict]]:
    rows = []
    for dataset, methods in report.get("retrieval", {}).items():
        if dataset.endswith("_ingest"):
            continue
        for method, groups in methods.items():
            for group, metrics in groups.items():
                if group == "latency_ms":
                    continue
                rows.append((dataset, method, group, metrics))
    return rows


def answer_rows(report: dict) -> list[tuple[str, str, dict]]:
    rows = []
    for generator, section in report.get("answers", {}).items():
        for dataset, content in section.items():
            if isinstance(content, dict) and "summary" in content:
                rows.append((generator, dataset, content["summary"]))
    return rows


METADATA_COLUMNS = ("n", "title_usable", "title_word_overlap", "issuer_right", "issuer_wrong", "issuer_missing",
                    "issuer_precision", "issuer_invented")


TIME_COLUMNS = ("n", "scoped", "top1_with", "top1_without", "recall@6_with", "recall@6_without")
TIMELINE_COLUMNS = ("n", "entries", "precision", "recall", "exact")
UPDATES_COLUMNS = ("n", "superseded", "current", "right", "missed", "wrong", "recall", "precision", "wrong_on_current",
                   "seconds_mean")
VERSIONS_COLUMNS = ("n", "known", "found", "right", "precision", "recall", "releases@6_before", "releases@6_after",
                    "right@6_before", "right@6_after", "question_lang@6_before", "question_lang@6_after")
#: The parts reported per half of their questions: (report key, heading, columns).
HALF_TABLES = (("metadata", "Titles and issuers from the text alone", METADATA_COLUMNS),
               ("time", "Time-aware questions (retrieval with and without the question's dates)", TIME_COLUMNS),
               ("versions", "One release, two languages (pairs found from content; the six passages before/after "
                            "counting each release once)", VERSIONS_COLUMNS),
               ("timeline", "Timelines of a subject (releases of the series shown / found)", TIMELINE_COLUMNS),
               ("updates", "A newer communiqué says otherwise (superseded figures flagged / current ones left alone)",
                UPDATES_COLUMNS))


def half_rows(report: dict, part: str) -> list[tuple[str, str, dict]]:
    return [(dataset, half, metrics) for dataset, halves in report.get(part, {}).items()
            for half, metrics in halves.items() if half in ("tune", "report", "all")]


def half_table_lines(report: dict) -> list[str]:
    lines = []
    for part, heading, columns in HALF_TABLES:
        rows = half_rows(report, part)
        if rows:
            lines += [f"## {heading}", "", "| set | half | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
            lines += [f"| {dataset} | {half} | " + " | ".join(_fmt(metrics.get(c)) for c in columns) + " |"
                      for dataset, half, metrics in rows]
            lines.append("")
    return lines


def markdown(report: dict) -> str:
    lines = ["# Porte-parole evaluation report", "",
             f"Data: `{report['data']}` · seed {report['seed']} · PIAF answer sample {report['sample']} (×4 for extractive) · "
             f"{report['seconds'] / 60:.1f} min", ""]
    lines += ["## Retrieval", "", "| set | method | queries | n | " + " | ".join(RETRIEVAL_COLUMNS) + " |",
              "|---|---|---|---|" + "---|" * len(RETRIEVAL_COLUMNS)]
    for dataset, method, group, metrics in retrieval_rows(report):
        lines.append(f"| {dataset} | {method} | {group} | {metrics.get('n', '')} | " + " | ".join(_fmt(metrics.get(c)) for c in RETRIEVAL_COLUMNS) + " |")
    lines += ["", "Search latency (ms, p50 / p95): " + "; ".join(
        f"{dataset}/{method} {m['latency_ms']['p50']:.1f} / {m['latency_ms']['p95']:.1f}"
        for dataset, methods in report.get("retrieval", {}).items() if not dataset.endswith("_ingest")
        for method, m in methods.items()), ""]
    ingest = report.get("retrieval", {}).get("swiss_ingest")
    if ingest:
        lines += [f"Ingest of the Swiss corpus: {ingest['chunks']} passages, {ingest['embedded']} embedded this run"
                  + (f" at {ingest['chunks_per_s']:.1f} passages/s" if ingest.get("chunks_per_s") else " (all from the embedding cache)"), ""]
    lines += half_table_lines(report)
    lines += ["## Answers", "", "| generator | set | " + " | ".join(ANSWER_COLUMNS) + " |", "|---|---|" + "---|" * len(ANSWER_COLUMNS)]
    for generator, dataset, summary in answer_rows(report):
        lines.append(f"| {generator} | {dataset} | " + " | ".join(_fmt(summary.get(c)) for c in ANSWER_COLUMNS) + " |")
    lines += ["", "## Thresholds", ""]
    if report["failures"]:
        lines += ["**Below threshold:**", ""] + [f"- {f}" for f in report["failures"]]
    else:
        lines.append(f"All {len(report['thresholds'])} thresholds in eval/thresholds.toml are met.")
    lines += ["", "## Definitions", "", "```", report["definitions"].strip(), ANSWER_DEFINITIONS.strip(), "```", "",
              "Plots: `retrieval.png` (metrics by method and query kind), `latency.png` (answer latency)."]
    return "\n".join(lines) + "\n"


def plots(report: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in retrieval_rows(report) if r[2] != "all"]
    if rows:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
        for ax, metric in zip(axes, ("recall@1", "recall@10", "mrr@10")):
            labels = [f"{d}/{g}\n{m}" for d, m, g, _ in rows]
            ax.bar(range(len(rows)), [r[3][metric] for r in rows], color=["#1d4ed8" if r[1] == "hybrid" else "#9ca3af" for r in rows])
            ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
            ax.set_title(metric)
            ax.set_ylim(0, 1)
        fig.tight_layout()
        fig.savefig(out_dir / "retrieval.png", dpi=110)
        plt.close(fig)
    latencies = {}
    for generator, section in report.get("answers", {}).items():
        for dataset, content in section.items():
            if isinstance(content, dict) and "records" in content:
                latencies.setdefault(generator, []).extend(r["latency_s"] for r in content["records"])
    if latencies:
        fig, ax = plt.subplots(figsize=(7, 4))
        for generator, values in latencies.items():
            ax.hist(values, bins=20, alpha=0.6, label=generator)
        ax.set_xlabel("seconds per question")
        ax.set_ylabel("questions")
        ax.legend()
        ax.set_title("Answer latency")
        fig.tight_layout()
        fig.savefig(out_dir / "latency.png", dpi=110)
        plt.close(fig)


def write_report(report: dict, flat: dict, out_dir: Path) -> None:
    (out_dir / "report.json").write_text(json.dumps({**report, "flat": flat}, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(report), encoding="utf-8")
    plots(report, out_dir)


def print_table(report: dict, flat: dict) -> None:
    print("\nRetrieval" + " " * 31 + "  ".join(f"{c:>9}" for c in RETRIEVAL_COLUMNS))
    for dataset, method, group, metrics in retrieval_rows(report):
        print(f"  {dataset:6} {method:12} {group:8} n={metrics.get('n', 0):<4}" + "  ".join(f"{_fmt(metrics.get(c)):>9}" for c in RETRIEVAL_COLUMNS))
    for part, heading, columns in HALF_TABLES:
        if half_rows(report, part):
            print(f"\n{heading[:30]:31}" + "  ".join(f"{c[:10]:>10}" for c in columns[1:]))
            for dataset, half, metrics in half_rows(report, part):
                print(f"  {dataset:11} {half:7} n={metrics['n']:<4}" + "  ".join(f"{_fmt(metrics.get(c)):>10}" for c in columns[1:]))
    short = ("correct", "correct_and_cited", "answer_language_accuracy", "refusal_recall", "false_refusal_rate",
             "citation_precision", "quote_verbatim_rate", "latency_p50_s")
    print("\nAnswers" + " " * 22 + "  ".join(f"{c[:10]:>10}" for c in short))
    for generator, dataset, summary in answer_rows(report):
        print(f"  {generator:10} {dataset:8}    " + "  ".join(f"{_fmt(summary.get(c)):>10}" for c in short))
