"""Evaluation metrics and threshold logic (eval/), checked against sentence-transformers' evaluator."""

from __future__ import annotations

import random

import pytest

from eval.answer_eval import fact_present
from eval.metrics import contains_answer, exact_match, mrr_at, ndcg_at, recall_at, token_f1
from eval.run import check_thresholds


def test_retrieval_metrics_agree_with_sentence_transformers():
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    rng = random.Random(3)
    corpus = {f"d{i}": f"doc {i}" for i in range(40)}
    queries = {f"q{i}": f"query {i}" for i in range(25)}
    relevant = {q: set(rng.sample(sorted(corpus), rng.randint(1, 3))) for q in queries}
    rankings = {q: rng.sample(sorted(corpus), 15) for q in queries}
    evaluator = InformationRetrievalEvaluator(queries, corpus, relevant, mrr_at_k=[10], ndcg_at_k=[10],
                                              precision_recall_at_k=[1, 5, 10], accuracy_at_k=[1], write_csv=False)
    results = [[{"corpus_id": doc, "score": 1.0 - pos / 100} for pos, doc in enumerate(rankings[q])] for q in evaluator.queries_ids]
    theirs = evaluator.compute_metrics(results)
    ours = {
        "recall@1": sum(recall_at(rankings[q], relevant[q], 1) for q in queries) / len(queries),
        "recall@10": sum(recall_at(rankings[q], relevant[q], 10) for q in queries) / len(queries),
        "mrr@10": sum(mrr_at(rankings[q], relevant[q], 10) for q in queries) / len(queries),
        "ndcg@10": sum(ndcg_at(rankings[q], relevant[q], 10) for q in queries) / len(queries),
    }
    assert ours["recall@1"] == pytest.approx(theirs["recall@k"][1])
    assert ours["recall@10"] == pytest.approx(theirs["recall@k"][10])
    assert ours["mrr@10"] == pytest.approx(theirs["mrr@k"][10])
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg@k"][10])


def test_answer_metrics_handle_french():
    assert exact_match("L'Élysée", "elysee") == 1.0
    assert token_f1("le palais de l'Élysée à Paris", "palais de l'Elysée") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert contains_answer("Il est né en 1889 à Paris.", "1889") == 1.0
    assert token_f1("rien", "tout") == 0.0


def test_facts_are_matched_by_value_across_languages():
    assert fact_present("43 000", "The industry employs 43,000 people.")
    assert fact_present("12.5 million", "La rénovation coûte 12,5 millions de dollars.")
    assert fact_present("septembre 2024", "Les travaux débuteront en septembre 2024.")
    assert not fact_present("septembre 2024", "Les travaux débuteront en 2024.")
    assert fact_present("Moudenc", "Jean-Luc MOUDENC a signé.")


def test_thresholds_fail_on_low_or_missing_metrics():
    flat = {"a.b": 0.9, "c.d": 0.2}
    assert check_thresholds(flat, {"a.b": {"min": 0.8}}) == []
    assert check_thresholds(flat, {"c.d": {"min": 0.5}}) == ["c.d = 0.200 < 0.5"]
    assert check_thresholds(flat, {"e.f": {"min": 0.1}}) == ["e.f: not measured"]
    assert check_thresholds(flat, {"c.d": {"max": 0.1}}) == ["c.d = 0.200 > 0.1"]


def test_iso_dates_in_answers_count_their_year():
    assert fact_present("2021", "date 2021-02 La Ville de Montréal a annoncé la signature")


def test_journalist_questions_split_into_halves_of_the_same_mix():
    from eval.data import DEFAULT_DATA, half_of, load_eval_data

    assert half_of("dq001") == "tune" and half_of("dq002") == "report"
    if not (DEFAULT_DATA / "swiss_qa" / "qa.jsonl").exists():
        pytest.skip("../shared/evaldata/swiss_qa is not available")
    questions = load_eval_data().journalist_qa
    assert len(questions) == 80
    for mode in {q["mode"] for q in questions}:
        tune = [q for q in questions if q["mode"] == mode and q["half"] == "tune"]
        report = [q for q in questions if q["mode"] == mode and q["half"] == "report"]
        assert len(tune) == len(report), mode
    assert all(q["gold_doc_ids"] or not q["answerable"] for q in questions)


def test_thresholds_of_parts_not_run_are_not_checked():
    from eval.run import _part_of

    assert _part_of("retrieval.swiss.hybrid.same.recall@10") == "retrieval"
    assert _part_of("answers.llm.journalists_report.correct_and_cited") == "journalists"
    assert _part_of("answers.extractive.piaf.contains") == "piaf"
    assert _part_of("time.dated.all.top1_with") == "time"


def test_the_time_questions_name_releases_of_the_corpus_with_both_languages():
    from eval.data import DEFAULT_DATA, half_of
    from eval.time_eval import load_time_questions

    questions = load_time_questions()
    assert len(questions) >= 30 and {q["lang"] for q in questions} == {"fr", "en"}
    assert all(len(q["gold_docs"]) % 2 == 0 for q in questions)  # each release in French and in English
    assert abs(sum(half_of(q["qid"]) == "tune" for q in questions) - len(questions) / 2) <= 1
    corpus = DEFAULT_DATA / "corpus" / "corpus.jsonl"
    if not corpus.exists():
        pytest.skip("../shared/evaldata is not available")
    import json

    known = {json.loads(line)["doc_id"] for line in corpus.open(encoding="utf-8")}
    assert {d for q in questions for d in q["gold_docs"]} <= known
