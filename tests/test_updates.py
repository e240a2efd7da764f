""""A newer communiqué says otherwise" (assistant.updates): figures read, newer releases found,
disagreements shown, and the update carried through the answer's JSON, the chat and the paste-ready text.

The fake embedder's scores mean nothing: the logic is tested with the similarity cut at 0 (the
sample's Valmont airport releases are the only pair of one issuer); the real cut is measured on the
Swiss dev set (eval/updates_eval.py) and used with the real models in test_real_models.py.
"""

from __future__ import annotations

import pytest

from assistant import Answer, Assistant, Citation, Update
from assistant.evidence import EvidenceScorer
from assistant.facts import figures
from assistant.schema import AnswerModel
from assistant.updates import find_updates
from conftest import FakeGenerator
from ui.render import answer_markdown, sources_panel

OLD_PASSENGERS = "L'aéroport de Valmont a accueilli 2 184 000 passagers en 2024"
NEW_PASSENGERS = "L'aéroport de Valmont a accueilli 2 351 000 passagers en 2025"


@pytest.fixture
def any_similarity(monkeypatch):
    monkeypatch.setattr("assistant.updates.MIN_SCORE", -10.0)
    monkeypatch.setattr("assistant.updates.MIN_SCORE_RATIO", 0.0)


def cite(index, doc_id: str, words: str, n: int = 1) -> Citation:
    """The sentence of ``doc_id`` that holds ``words``, as citation ``n``."""
    doc = index.documents[doc_id]
    start = doc.text.index(words)
    start = doc.text.rfind("\n", 0, start) + 1
    end = doc.text.index(".", start + len(words)) + 1
    return Citation(n, doc.doc_id, doc.title, doc.date, doc.issuer, doc.lang, doc.source, doc.url,
                    doc.text[start:end], start, end)


def test_figures_are_read_by_kind_and_dates_ordinals_and_the_question_are_not():
    assert figures("Le PIB a progressé de 0,5 % au 1er trimestre 2022.") == {"percent": [("0,5 %", {0.5})]}
    assert figures("Prices fell by 0.5% in May 2020, reaching 97.6 points (December 2015 = 100).") == {
        "percent": [("0.5%", {-0.5})], "points": [("97.6 points", {97.6})]}
    assert figures("Enterprises spent CHF 12.8 billion in 2012.") == {"amount": [("CHF 12.8 billion", {12.8e9})]}
    assert figures("Auction: 14.04.2021, the 2nd tranche.") == {}
    assert figures("La Gantry 3 traitera 450 patients.", ignore="Combien de patients la Gantry 3 traitera-t-elle ?") == {
        "count": [("450", {450.0})]}


def test_a_newer_release_of_the_issuer_with_another_figure_is_an_update(sample_index, any_similarity):
    scorer = EvidenceScorer(sample_index)
    old = cite(sample_index, "valmont-airport-traffic-2024", OLD_PASSENGERS)
    (update,) = find_updates(sample_index, scorer, [old], "Combien de passagers ?", "fr")
    assert update.kind == "newer" and update.cited == 1 and update.citation.n == 2
    assert update.citation.doc_id == "valmont-airport-traffic-2025" and update.citation.date == "2026-01-13"
    assert update.old == "2 184 000" and update.new == "2 351 000"
    doc = sample_index.documents[update.citation.doc_id]
    assert doc.text[update.citation.char_start:update.citation.char_end] == update.citation.quote, "verbatim"
    assert update.describe("fr") == ("Plus récent : le communiqué du 13 janvier 2026 (Relations avec les médias, "
                                     "Aéroport de Valmont) donne 2 351 000 [2] là où [1] donne 2 184 000.")


def test_no_update_without_a_newer_release_a_figure_or_an_issuer(sample_index, any_similarity):
    scorer = EvidenceScorer(sample_index)
    newest = cite(sample_index, "valmont-airport-traffic-2025", NEW_PASSENGERS)
    assert find_updates(sample_index, scorer, [newest], "Combien de passagers ?", "fr") == []
    no_figure = cite(sample_index, "valmont-airport-traffic-2024", "Les vols vers l'Europe")
    no_figure = Citation(**{**no_figure.to_dict(), "quote": "Trois nouvelles lignes ont été ouvertes au printemps."})
    assert find_updates(sample_index, scorer, [no_figure], "Quelles lignes ?", "fr") == []
    anonymous = Citation(**{**cite(sample_index, "valmont-airport-traffic-2024", OLD_PASSENGERS).to_dict(), "issuer": ""})
    assert find_updates(sample_index, scorer, [anonymous], "Combien de passagers ?", "fr") == []


def test_a_figure_the_newer_release_repeats_is_not_an_update(sample_index, any_similarity):
    scorer = EvidenceScorer(sample_index)
    old = cite(sample_index, "valmont-airport-traffic-2024", OLD_PASSENGERS)
    # The question states the quote's figures: they are not what the answer tells, so nothing differs.
    question = "L'aéroport a-t-il accueilli 2 184 000 passagers, 6,2 % de plus ?"
    assert find_updates(sample_index, scorer, [old], question, "fr") == []


def test_two_cited_sources_that_disagree_are_shown_side_by_side(sample_index, any_similarity):
    scorer = EvidenceScorer(sample_index)
    new = cite(sample_index, "valmont-airport-traffic-2025", NEW_PASSENGERS, n=1)
    old = cite(sample_index, "valmont-airport-traffic-2024", OLD_PASSENGERS, n=2)
    (update,) = find_updates(sample_index, scorer, [new, old], "Combien de passagers ?", "fr")
    assert update.kind == "disagreement" and update.cited == 2 and update.citation == new, "oldest first"
    assert (update.old, update.new) == ("2 184 000", "2 351 000")
    assert update.describe("en", old.date) == ("The sources differ: [2] (14 January 2025) gives 2 184 000, "
                                               "[1] (13 January 2026) gives 2 351 000.")


def test_the_update_travels_with_the_answer(sample_index, any_similarity):
    assistant = Assistant(sample_index, FakeGenerator(f"{OLD_PASSENGERS} [1]."))
    answer = assistant.ask("Combien de passagers l'aéroport de Valmont a-t-il accueillis en 2024 ?")
    assert not answer.refused and answer.citations[0].doc_id == "valmont-airport-traffic-2024"
    (update,) = answer.updates
    assert update.citation.doc_id == "valmont-airport-traffic-2025" and "updates" in answer.timings
    data = answer.to_dict()
    AnswerModel.model_validate(data)
    assert [u.to_dict() for u in Answer.from_dict(data).updates] == [update.to_dict()]
    assert "⚠ Plus récent : le communiqué du 13 janvier 2026" in answer.with_sources()
    assert "[2] Aéroport de Valmont : le trafic dépasse" in answer.with_sources(), "the newer quote is referenced"
    bubble = answer_markdown(answer)
    assert "⚠ Plus récent" in bubble and 'href="#pp-src-2"' in bubble
    panel = sources_panel("fr", answer.hits, answer, sample_index.documents)
    assert "Communiqués plus récents" in panel and 'id="pp-src-2"' in panel
    skipped = assistant.ask("Combien de passagers l'aéroport de Valmont a-t-il accueillis en 2024 ?", newer_values=False)
    assert skipped.updates == [] and "updates" not in skipped.timings


def test_update_json_round_trip():
    quote = Citation(3, "d", "T", "2019-02-01", "FSO", "en", "", "", "It fell by 0.1%.", 0, 16)
    update = Update("newer", 1, "3.1%", "0.1%", quote, 0.91)
    assert Update.from_dict(update.to_dict()) == update


def test_a_release_added_to_the_index_in_place_is_seen(tmp_path, fake_embedder, any_similarity):
    from index import ingest_paths
    from ingest import Document

    from conftest import SAMPLES

    index = ingest_paths([SAMPLES], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    scorer = EvidenceScorer(index)
    newest = cite(index, "valmont-airport-traffic-2025", NEW_PASSENGERS)
    assert find_updates(index, scorer, [newest], "Combien de passagers ?", "fr") == []
    text = ("Aéroport de Valmont : 2 402 000 passagers en 2026\n\n"
            "L'aéroport de Valmont a accueilli 2 402 000 passagers en 2026, soit une hausse de 2,2 % par rapport à 2025.")
    index.update([Document(doc_id="valmont-2026", text=text, title="Aéroport de Valmont : 2 402 000 passagers en 2026",
                           date="2027-01-12", issuer=newest.issuer, lang="fr", source="valmont-2026.md")], progress=False)
    (update,) = find_updates(index, EvidenceScorer(index), [newest], "Combien de passagers ?", "fr")
    assert update.citation.doc_id == "valmont-2026" and update.new == "2 402 000"
