"""Time-aware questions: the question's date expression, read in French and English, ranks the
releases of its period first (assistant.time_scope). Fakes only; eval/time_eval.py measures it
on the Swiss releases with the real embedder."""

from __future__ import annotations

import json
from datetime import date

import pytest

from assistant import Assistant, ExtractiveGenerator
from assistant.prompts import as_of
from assistant.schema import AnswerModel
from assistant.time_scope import LATEST_MARGIN, TimeScope, prefer_in_scope, time_scope
from index import Hit
from index.types import Chunk, Document

TODAY = date(2022, 6, 15)


@pytest.mark.parametrize("question, since, until, latest", [
    ("What did the Federal Council decide about e-voting in 2019?", "2019-01-01", "2019-12-31", False),
    ("Qu'a décidé le Conseil fédéral en mars 2020 ?", "2020-03-01", "2020-03-31", False),
    ("Which bonds were issued since January 2021?", "2021-01-01", None, False),
    ("Quels emprunts depuis 2021 ?", "2021-01-01", None, False),
    ("Avant l'accord de 2018, que disait l'OFS ?", None, "2017-12-31", False),
    ("What was agreed before the 2018 agreement?", None, "2017-12-31", False),
    ("Qu'a-t-on dit après la signature de l'accord de 2018 ?", "2019-01-01", None, False),
    ("Avant 2018, que disait l'OFS ?", None, "2017-12-31", False),
    ("What happened after March 2018?", "2018-04-01", None, False),
    ("Entre 2015 et 2018, combien ?", "2015-01-01", "2018-12-31", False),
    ("What did the FSO report last year?", "2021-01-01", "2021-12-31", False),
    ("Qu'a dit l'OFS l'an dernier ?", "2021-01-01", "2021-12-31", False),
    ("Quels emprunts cette année ?", "2022-01-01", "2022-06-15", False),
    ("What did the latest communiqué on GDP say?", None, None, True),
    ("Quelle est la dernière estimation du PIB ?", None, None, True),
    ("Que dit le communiqué le plus récent ?", None, None, True),
    ("Who signed the December 2022 agreement in Bucharest?", "2022-12-01", "2022-12-31", False),
])
def test_time_expressions_in_french_and_english(question, since, until, latest):
    scope = time_scope(question, today=TODAY)
    if since is None and until is None and not latest:
        assert scope is None or (scope.since is None and scope.until is None and not scope.latest)
        return
    assert (scope.since, scope.until, scope.latest) == (since, until, latest)
    assert scope.phrase and scope.phrase.split(" … ")[0].lower() in question.lower()


@pytest.mark.parametrize("question", [
    "Who heads the Connaught Clinic in Harare?",
    # "dernier" as an ordinal is not "the latest": the last phase of works, the last quarter.
    "Sur quelle durée le prêt pour la dernière phase d'extension est-il remboursable ?",
    "Combien d'emplois au dernier trimestre ?",
    "How many people does the aerospace industry employ?",
    "Which ball was used at the 2018 World Cup?",  # a year naming a thing, not a time
])
def test_questions_without_a_time_expression_are_unchanged(question):
    assert time_scope(question, today=TODAY) is None


def test_labels_say_where_the_dates_come_from():
    scope = time_scope("Quels emprunts en octobre 2021 ?")
    assert scope.label("fr") == "2021-10 · d'après la question"
    assert time_scope("the latest figures").label("en") == "latest · from the question"
    assert TimeScope(since="2018-01-01", until="2019-12-31").label("en") == "2018–2019 · from the question"


def _hit(doc_id: str, doc_date: str, score: float, rank: int) -> Hit:
    document = Document(doc_id=doc_id, text="x", date=doc_date, lang="en")
    chunk = Chunk(chunk_id=f"{doc_id}#0", doc_id=doc_id, ordinal=0, text="x", char_start=0, char_end=1, embed_text="x")
    return Hit(chunk=chunk, document=document, score=score, rank=rank)


def test_releases_of_the_period_come_first_and_the_others_stay():
    hits = [_hit("a", "2021-03-01", 0.60, 1), _hit("b", "2018-11-13", 0.50, 2), _hit("c", "2019-02-01", 0.30, 3)]
    ranked = prefer_in_scope(hits, time_scope("in 2018"), k=3)
    assert [h.doc_id for h in ranked] == ["b", "a", "c"]
    assert [h.rank for h in ranked] == [1, 2, 3] and ranked[0].score == 0.50  # the score stays the similarity
    # A release far below the best is not pulled up by its date alone.
    far = [_hit("a", "2021-03-01", 0.60, 1), _hit("b", "2018-11-13", 0.20, 2)]
    assert prefer_in_scope(far, time_scope("in 2018"), k=2)[0].doc_id == "a"


def test_a_years_figures_published_the_next_spring_are_preferred_less_strongly():
    scope = time_scope("killed in 2021")
    assert scope.contains("2022-03-28", tolerance=True) and not scope.contains("2022-03-28")
    hits = [_hit("other", "2019-05-01", 0.52, 1), _hit("stats", "2022-03-28", 0.50, 2)]
    assert prefer_in_scope(hits, scope, k=2)[0].doc_id == "stats"


def test_latest_prefers_the_newest_release_about_as_relevant_as_the_best():
    hits = [_hit("old", "2013-12-13", 0.70, 1), _hit("new", "2021-03-18", 0.70 - LATEST_MARGIN / 2, 2),
            _hit("off-topic", "2022-09-01", 0.70 - 2 * LATEST_MARGIN, 3)]
    ranked = prefer_in_scope(hits, time_scope("the latest producer price index"), k=3)
    assert [h.doc_id for h in ranked] == ["new", "old", "off-topic"]


def test_the_assistant_applies_and_reports_the_questions_dates(sample_index):
    assistant = Assistant(sample_index, ExtractiveGenerator())
    question = "What did the city announce in December 2024 about its buses?"
    retrieved = assistant.retrieve(question)
    assert retrieved.time_scope.label("en") == "2024-12 · from the question"
    assert retrieved.hits[0].document.date.startswith("2024-12")
    assert assistant.retrieve(question, question_dates=False).time_scope is None

    answer = assistant.ask("What did Riverton decide last year about its library?", today=date(2025, 2, 1))
    assert answer.time_scope["since"] == "2024-01-01" and answer.time_scope["label_en"] == "2024 · from the question"
    AnswerModel.model_validate(answer.to_dict())
    assert assistant.ask("What did Riverton decide about its library?").time_scope is None


def test_an_answer_to_the_latest_says_the_date_of_its_source(sample_index):
    assistant = Assistant(sample_index, ExtractiveGenerator())
    answer = assistant.ask("What is the latest news about night buses in Northbay?")
    assert not answer.refused and answer.citations
    assert answer.text.startswith("As of 2 December 2024: ") and "According to the communiqués" not in answer.text
    french = assistant.ask("Quelle est la dernière annonce sur les bus de nuit à Northbay ?")
    assert french.refused or french.text.startswith(as_of(french.citations[0].date, "fr"))
    assert as_of("2024-12-02", "fr") == "Selon le communiqué du 2 décembre 2024 : "
    assert not assistant.ask("What about night buses in Northbay?").text.startswith("As of")


def test_the_cli_shows_the_dates_it_used_and_can_ignore_them(sample_index, monkeypatch, capsys):
    from ui.cli import main

    monkeypatch.setattr(Assistant, "open", classmethod(lambda cls, *a, **k: cls(sample_index, ExtractiveGenerator())))
    base = ["ask", "What did Riverton decide last year about its library?", "--index", str(sample_index.index_dir),
            "--generator", "extractive"]
    assert main(base + ["--today", "2025-02-01"]) == 0
    assert capsys.readouterr().out.startswith("[2024 · from the question; --ignore-question-dates to rank without it]")
    assert main(base + ["--today", "2025-02-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_scope"]["phrase"] == "last year"
    assert main(base + ["--ignore-question-dates", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["time_scope"] is None
    with pytest.raises(SystemExit) as bad:
        main(base + ["--today", "yesterday"])
    assert bad.value.code == 2 and "must be a date like 2022-06-01" in capsys.readouterr().err
