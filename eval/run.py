"""``porteparole eval``: retrieval and answer quality with the real models, against checked-in thresholds.

Same data, same seed and same samples every run, so figures are comparable over time
(eval/history.md keeps them). Indexes are rebuilt in ``OUT/indexes`` each run; the embedding
cache makes a rerun cost only the queries.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path

from .data import SAMPLE_CORPUS, load_eval_data, load_seed_questions, seeded_sample
from .metadata_eval import metadata_section
from .metrics import __doc__ as METRIC_DEFINITIONS
from .time_eval import time_section
from .timeline_eval import timeline_section
from .updates_eval import updates_section
from .versions_eval import versions_section

THRESHOLDS = Path(__file__).with_name("thresholds.toml")


#: The parts of the eval, all run by default.
DEFAULT_SETS = "retrieval,metadata,time,versions,timeline,updates,seeds,piaf,journalists"
#: The parts measured on the Swiss releases' index, reported per half of their dev set.
SWISS_PARTS = ("time", "versions", "timeline", "updates")


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr)


def _index_records(records: list[dict], out_dir: Path, name: str):
    from index import ingest_paths

    path = out_dir / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return ingest_paths([path], out_dir / name, prune=True, progress=True).index


def retrieval_section(data, out_dir: Path) -> dict:
    from index import ingest_paths

    from .retrieval_eval import METHODS, evaluate_retrieval, piaf_queries, swiss_queries

    section: dict = {}
    if data.retrieval and data.corpus_path:
        started = time.perf_counter()
        result = ingest_paths([data.corpus_path], out_dir / "swiss", prune=True, progress=True)
        section["swiss_ingest"] = {
            "chunks": len(result.index.chunks), "embedded": result.update.chunks_embedded,
            "chunks_per_s": (result.update.chunks_embedded / result.update.embed_seconds) if result.update.embed_seconds else None,
            "seconds": time.perf_counter() - started,
        }
        queries = swiss_queries(data.retrieval)
        bar = _progress(len(queries) * len(METHODS), "Retrieval (Swiss releases)")
        section["swiss"] = evaluate_retrieval(result.index, queries, progress=lambda: bar.update(1))
        bar.close()
    if data.qa and data.qa_contexts:
        index = _index_records(data.qa_contexts_as_records, out_dir, "piaf")
        queries = piaf_queries(data.qa)
        bar = _progress(len(queries) * len(METHODS), "Retrieval (PIAF)")
        section["piaf"] = evaluate_retrieval(index, queries, progress=lambda: bar.update(1))
        bar.close()
    return section


def answer_section(data, out_dir: Path, generator: str, sample: int, sets: set[str], shared_generator=None) -> dict:
    """Seed questions (bilingual, answerable + unanswerable), PIAF questions with and without their
    paragraph, and the Swiss journalist questions (all of them, halves also reported apart).

    ``shared_generator`` replaces the generator named ``generator`` (``eval/replay.py`` passes one
    that gives an earlier run's drafts again)."""
    from assistant import Assistant, make_generator
    from index import ingest_paths

    from .answer_eval import run_questions, summarise

    section: dict = {"generator": generator}
    shared_generator = shared_generator or make_generator(generator)  # one model for every set
    if "seeds" in sets:
        seeds_index = ingest_paths([SAMPLE_CORPUS], out_dir / "samples", prune=True, progress=False).index
        assistant = Assistant(seeds_index, shared_generator)
        questions = load_seed_questions()
        bar = _progress(len(questions), f"Answers, seed questions ({generator})")
        records = run_questions(assistant, questions, progress=lambda: bar.update(1))
        bar.close()
        section["seeds"] = {"summary": summarise(records), "records": records}

    if "journalists" in sets and data.journalist_qa and data.corpus_path:
        swiss_index = ingest_paths([data.corpus_path], out_dir / "swiss", prune=True, progress=False).index
        bar = _progress(len(data.journalist_qa), f"Answers, Swiss journalist questions ({generator})")
        records = run_questions(Assistant(swiss_index, shared_generator), data.journalist_qa, progress=lambda: bar.update(1))
        bar.close()
        section["journalists"] = {"summary": summarise(records), "records": records}
        for half in ("tune", "report"):
            section[f"journalists_{half}"] = {"summary": summarise([r for r in records if r["half"] == half])}

    if "piaf" in sets and data.qa and data.qa_contexts and sample:
        picked = seeded_sample(data.qa, sample)
        answerable = [{"qid": q["qid"], "question": q["question"], "lang": "fr", "answerable": True,
                       "gold_doc_ids": [q["context_id"]], "answers": q["answers"]} for q in picked]
        # The same questions against the corpus without their paragraph: nothing can answer them.
        removed = {q["context_id"] for q in picked}
        unanswerable = [{**q, "answerable": False, "gold_doc_ids": [], "answers": []} for q in answerable]
        full_index = _index_records(data.qa_contexts_as_records, out_dir, "piaf")
        holed_index = _index_records([r for r in data.qa_contexts_as_records if r["doc_id"] not in removed], out_dir, "piaf-without-gold")
        bar = _progress(2 * len(picked), f"Answers, PIAF ({generator})")
        records = run_questions(Assistant(full_index, shared_generator), answerable, progress=lambda: bar.update(1))
        records += run_questions(Assistant(holed_index, shared_generator), unanswerable, progress=lambda: bar.update(1))
        bar.close()
        section["piaf"] = {"summary": summarise(records), "records": records}
    return section


def flatten(report: dict) -> dict[str, float]:
    """``{"retrieval.swiss.hybrid.cross.recall@10": 1.0, "answers.llm.seeds.correct": 0.8, ...}``."""
    flat: dict[str, float] = {}
    for dataset, methods in report.get("retrieval", {}).items():
        if dataset.endswith("_ingest"):
            continue
        for method, groups in methods.items():
            for group, metrics in groups.items():
                for name, value in metrics.items():
                    if isinstance(value, (int, float)):
                        flat[f"retrieval.{dataset}.{method}.{group}.{name}"] = float(value)
    for part in ("metadata", *SWISS_PARTS):
        for dataset, halves in report.get(part, {}).items():
            for half, metrics in halves.items():
                if isinstance(metrics, dict):
                    for name, value in metrics.items():
                        if isinstance(value, (int, float)):
                            flat[f"{part}.{dataset}.{half}.{name}"] = float(value)
    for generator, section in report.get("answers", {}).items():
        for dataset, content in section.items():
            if isinstance(content, dict) and "summary" in content:
                for name, value in content["summary"].items():
                    if isinstance(value, (int, float)) and value is not None:
                        flat[f"answers.{generator}.{dataset}.{name}"] = float(value)
    return flat


def check_thresholds(flat: dict[str, float], thresholds: dict) -> list[str]:
    """Failures, e.g. ``answers.llm.seeds.correct = 0.60 < 0.70``; a missing metric is a failure too."""
    failures = []
    for key, rule in thresholds.items():
        value = flat.get(key)
        if value is None:
            failures.append(f"{key}: not measured")
        elif "min" in rule and value < rule["min"]:
            failures.append(f"{key} = {value:.3f} < {rule['min']}")
        elif "max" in rule and value > rule["max"]:
            failures.append(f"{key} = {value:.3f} > {rule['max']}")
    return failures


def _part_of(threshold_key: str) -> str:
    """Which part of the eval measures a threshold: ``retrieval``, ``metadata``, one of :data:`SWISS_PARTS`, ``seeds``, ``piaf`` or ``journalists``."""
    if threshold_key.split(".")[0] in ("retrieval", "metadata", *SWISS_PARTS):
        return threshold_key.split(".")[0]
    dataset = threshold_key.split(".")[2]
    return "journalists" if dataset.startswith("journalists") else dataset


def load_thresholds(generators: list[str], with_answers: bool) -> dict:
    rules = tomllib.loads(THRESHOLDS.read_text(encoding="utf-8"))
    flat = {}
    for section, entries in rules.items():
        for key, rule in entries.items():
            full = f"{section}.{key}"
            if full.startswith("answers.") and (not with_answers or full.split(".")[1] not in generators):
                continue
            flat[full] = rule
    return flat


def run_from_cli(args) -> int:
    from .report import print_table, write_report

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    indexes = out_dir / "indexes"
    indexes.mkdir(exist_ok=True)
    data = load_eval_data(args.data)
    generators = ["extractive", "llm"] if args.ci else [args.generator]
    sample = args.sample if args.sample is not None else (15 if args.ci else 20)
    started = time.perf_counter()
    report: dict = {"data": str(data.root), "sample": sample, "seed": 42, "generators": generators,
                    "definitions": METRIC_DEFINITIONS}
    sets = {part.strip() for part in getattr(args, "sets", DEFAULT_SETS).split(",") if part.strip()}
    report["retrieval"] = retrieval_section(data, indexes) if "retrieval" in sets else {}
    report["metadata"] = metadata_section(data) if "metadata" in sets else {}
    report.update({part: {} for part in SWISS_PARTS})
    if sets & set(SWISS_PARTS) and data.corpus_path:
        from index import ingest_paths

        swiss_index = ingest_paths([data.corpus_path], indexes / "swiss", prune=True, progress=False).index
        if "time" in sets:
            report["time"] = time_section(data, swiss_index, progress_factory=_progress)
        if "versions" in sets:
            report["versions"] = versions_section(data, swiss_index, progress_factory=_progress)
        if "timeline" in sets:
            report["timeline"] = timeline_section(swiss_index, progress_factory=_progress)
        if "updates" in sets:
            report["updates"] = updates_section(swiss_index, progress_factory=_progress)
    report["answers"] = {}
    for generator in generators:
        # The extractive generator is cheap: it gets four times the PIAF sample.
        n = sample * 4 if generator == "extractive" else sample
        report["answers"][generator] = answer_section(data, indexes, generator, n, sets)
    report["seconds"] = time.perf_counter() - started
    flat = flatten(report)
    thresholds = {key: rule for key, rule in load_thresholds(generators, with_answers=True).items()
                  if _part_of(key) in sets}
    failures = check_thresholds(flat, thresholds)
    report["thresholds"] = thresholds
    report["failures"] = failures
    write_report(report, flat, out_dir)
    print_table(report, flat)
    print(f"\nReport: {out_dir.resolve()}/report.md ({report['seconds'] / 60:.1f} min)")
    if failures:
        print("\nBelow threshold (eval/thresholds.toml):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"All {len(thresholds)} thresholds met.")
    return 0
