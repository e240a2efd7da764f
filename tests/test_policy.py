"""The answering stages added for journalists' questions: answer types, the refusal policy, quoting
instead of refusing (with a marked translation), and the calibration maths. Fakes only."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import Assistant, holds_type, policy, question_type
from assistant.policy import decide, qualifier_coverage, question_qualifiers
from assistant.prompts import EXTRACTIVE_LEAD, REFUSAL, TRANSLATED_LEAD

from conftest import FakeGenerator

TICKET = "Fares will be the same as during the day: a single ticket costs $2.75 and monthly passes are valid on night buses at no extra cost."
# A calibrated model that accepts whatever is on offer, and one that accepts nothing.
ACCEPT = {"fake": {"weights": {}, "bias": 5.0, "threshold": 0.5}}
REJECT = {"fake": {"weights": {}, "bias": -5.0, "threshold": 0.5}}


@pytest.mark.parametrize("question, kind", [
    ("Qui a signé l'entente ?", "person"),
    ("Which doctor heads the clinic that the FDFA mentioned when it announced aid?", "person"),
    ("À quelle heure partira le premier bus de nuit ?", "time"),
    ("How long will the renovation last?", "duration"),
    ("Pour combien d'années l'entente est-elle conclue ?", "duration"),
    ("Quelle part de l'emploi représente l'aérospatiale ?", "percentage"),
    ("How much does a single ticket cost?", "amount"),
    ("Combien coûtera le remplacement de l'aile ?", "amount"),
    ("Quel film a remporté le Prix du cinéma suisse 2013 ?", "other"),
    ("Combien de personnes emploie l'industrie ?", "number"),
    ("When was the agreement signed?", "date"),
    ("Dans quelle ville a lieu le concert ?", "place"),
    ("What is the phone number of the press office?", "contact"),
    ("Pourquoi la Suisse n'utilise-t-elle pas eTIR ?", "reason"),
])
def test_question_types_in_both_languages(question, kind):
    assert question_type(question) == kind


def test_holding_a_type():
    assert holds_type("It will cost CHF 2.5 million.", "amount")
    assert not holds_type("It is the largest investment since 1998.", "number"), "a year is not a count"
    assert holds_type("Les bus partiront à 23 h 30.", "time")
    assert holds_type("L'entente est conclue pour trois ans.", "duration")
    assert not holds_type("L'entente est conclue pour trois ans.", "duration", number_words=False)
    assert holds_type("Contact: presse@example.ch, +41 58 462 31 53", "contact")
    assert holds_type("Le Prof. Ruedi Lüthy soigne des patients.", "person")
    # A body's name just before a person's ("d'Etat Pierre"): the person is still found.
    assert holds_type("Signé par le conseiller d'Etat Pierre Maudet, à Berne.", "person")
    assert not holds_type("Signé par le Conseil fédéral, à Berne.", "person")


def test_qualifiers_are_years_and_names():
    assert question_qualifiers("How many students did SFUVET have in 2021?") == ["2021", "sfuvet"]
    assert qualifier_coverage("How many students did SFUVET have in 2021?", "En 2021, l'IFFP comptait ...") == 0.5
    assert qualifier_coverage("how many?", "anything") == 1.0


def test_a_failed_draft_is_replaced_by_a_quote_of_the_sentence_holding_the_fact(sample_index):
    draft = TICKET.replace("$2.75", "the usual fare") + " [1]"
    assistant = Assistant(sample_index, FakeGenerator(draft))
    assistant.refusal_model = ACCEPT
    answer = assistant.ask("How much does a single night bus ticket cost?")
    assert not answer.refused and answer.text.startswith(EXTRACTIVE_LEAD["en"])
    assert "usual fare" not in answer.text and any("$2.75" in c.quote for c in answer.citations)
    doc = sample_index.documents[answer.citations[0].doc_id]
    assert doc.text[answer.citations[0].char_start:answer.citations[0].char_end] == answer.citations[0].quote


def test_a_draft_with_an_invented_figure_is_replaced_by_the_sentence_it_came_from(sample_index):
    # The model's claim is attributed to the ticket sentence, but its price is not the source's:
    # the verified sentence is shown instead, whatever the calibrated model thinks of quotes.
    draft = "A single ticket on the night buses costs $3.10 [1]."
    assistant = Assistant(sample_index, FakeGenerator(draft))
    assistant.refusal_model = REJECT
    answer = assistant.ask("How much does a single night bus ticket cost?")
    assert not answer.refused, answer.refusal_reason
    assert answer.text.startswith(EXTRACTIVE_LEAD["en"]) and "$3.10" not in answer.text
    assert any("$2.75" in c.quote for c in answer.citations)


def test_a_sentence_the_draft_came_from_must_still_be_close_to_the_question():
    problem = "no answer sentence is supported by the sources ($3.10)"
    for source_relevance, refused in ((0.55, False), (0.30, True)):
        decision = decide({"relevance": 0.6, "source_relevance": source_relevance}, "fake", REJECT, problem=problem,
                          drawn_from_draft=True)
        assert decision.refused == refused


def test_the_policy_can_refuse_the_quote_too(sample_index):
    assistant = Assistant(sample_index, FakeGenerator("NOT_FOUND"))
    assistant.refusal_model = REJECT
    answer = assistant.ask("How much does a single night bus ticket cost?")
    assert answer.refused and answer.text == REFUSAL["en"] and "confidence" in answer.refusal_reason
    assert answer.offered_text, "what was on offer is kept for evaluation"


# The fake embedder knows no languages: the French question borrows the English words it must match.
# Riverton's release exists in English only (Northbay's has a French version, see the next test).
RIVERTON_IN_FRENCH = "Combien de millions pour la renovation of the Central Library on Harbour Street ?"


def test_a_quote_in_the_other_language_is_translated_and_marked(sample_index):
    # Which of Riverton's sentences the fake embedder ranks first depends on the whole sample's
    # centring: both candidates are translated, and the test checks the one that was quoted.
    french = {
        "$12.5 million": "Le conseil municipal de Riverton a approuvé par 9 voix contre 2 une rénovation de 12,5 millions de dollars.",
        "($8 million)": "Le financement provient du budget d'investissement de la ville (8 millions de dollars), d'une "
                        "subvention provinciale (3,5 millions de dollars) et de dons privés (1 million de dollars).",
    }

    def translation(sentence, language):
        assert language == "fr"
        return next(text for key, text in french.items() if key in sentence)

    assistant = Assistant(sample_index, FakeGenerator("NOT_FOUND", translation=translation))
    assistant.refusal_model = ACCEPT
    answer = assistant.ask(RIVERTON_IN_FRENCH)
    assert not answer.refused and answer.text.startswith(TRANSLATED_LEAD["fr"])
    (citation,) = answer.citations
    assert citation.doc_id == "riverton-library-renovation"
    assert translation(citation.quote, "fr")[:-1] in answer.text, "the answer is the quote's translation"
    assert " million" in citation.quote and "millions" not in citation.quote, "the verified quote stays the original sentence"


def test_a_release_with_a_version_in_the_question_language_is_quoted_in_it(sample_index):
    def translation(sentence, language):
        raise AssertionError("nothing to translate: the release has a French version")

    assistant = Assistant(sample_index, FakeGenerator("NOT_FOUND", translation=translation))
    assistant.refusal_model = ACCEPT
    answer = assistant.ask("Combien coûte un billet à l'unité dans les bus de nuit de Northbay ?")
    assert not answer.refused and answer.text.startswith(EXTRACTIVE_LEAD["fr"])
    (citation,) = answer.citations
    assert citation.doc_id == "northbay-night-buses-fr" and "2,75 $" in citation.quote
    (english,) = answer.other_versions(citation)
    assert english.document.doc_id == "northbay-night-buses"  # its matching passage: a real-model test
    # Only one version of the release among the sources: both would be one source counted twice.
    assert "northbay-night-buses" not in {hit.doc_id for hit in answer.hits}


def test_a_translation_that_changes_a_figure_is_not_shown(sample_index):
    assistant = Assistant(sample_index, FakeGenerator("NOT_FOUND", translation=lambda s, lang: "Une rénovation de 15,5 millions de dollars."))
    assistant.refusal_model = ACCEPT
    answer = assistant.ask(RIVERTON_IN_FRENCH)
    assert answer.refused and "translation" in answer.refusal_reason


def test_decide_without_a_calibrated_model_keeps_the_earlier_rules():
    assert decide({"relevance": 0.6}, "fake", model={}).refused is False
    assert decide({"relevance": 0.3}, "fake", model={}).refused is True
    assert decide({"relevance": 0.9}, "fake", model={}, problem="the model found no answer").refused is True


def test_the_judge_vetoes_only_what_the_rules_would_show():
    from assistant.policy import JUDGE_VETO, MIN_MODEL_YES

    low, high = MIN_MODEL_YES - 0.1, MIN_MODEL_YES + 0.1
    assert decide({"relevance": 0.6, "model_yes": high}, "fake", model={}).refused is False
    vetoed = decide({"relevance": 0.6, "model_yes": low}, "fake", model={})
    assert vetoed.refused and vetoed.reason.startswith(JUDGE_VETO)
    drawn = decide({"relevance": 0.6, "source_relevance": 0.6, "model_yes": low}, "fake", model={},
                   problem="no answer sentence is supported by the sources ($3.10)", drawn_from_draft=True)
    assert drawn.refused and drawn.reason.startswith(JUDGE_VETO)
    # Refused for another reason: that reason stays; without a judgement: the rules alone.
    assert decide({"relevance": 0.3, "model_yes": low}, "fake", model={}).reason.startswith("no sentence close")
    assert decide({"relevance": 0.6}, "fake", model={}).refused is False


def test_the_judge_threshold_is_chosen_on_the_tune_half(capsys):
    from eval.calibrate import JUDGE_SIGNAL, judged_by_rule, threshold_table

    def record(split, yes, right, refused=False, reason=""):
        return {"split": split, "confidence": None, "offered": "x", "answerable": right, "offered_correct": right,
                "refused": refused, "refusal_reason": reason, "signals": {"model_yes": yes}}

    records = [record("tune", 0.9, True), record("tune", 0.8, True), record("tune", 0.12, False),
               record("tune", 0.22, False), record("tune", 0.05, True), record("report", 0.5, True),
               record("tune", 0.3, False, True, "no sentence close enough")]  # refused by a rule: not counted
    assert threshold_table(records, JUDGE_SIGNAL, judged_by_rule, "answers", wrong_cost=1.0) == 0.25
    assert "AUC" in capsys.readouterr().out


def test_calibration_maths():
    from eval.calibrate import auc, choose_threshold, fit_logistic, probabilities

    assert auc(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + 0.1 * rng.normal(size=200) > 0).astype(float)
    weights, bias = fit_logistic(x, y)
    assert weights[0] > 2 * abs(weights[1])
    p = probabilities(x, weights, bias)
    threshold = choose_threshold(p, y, np.ones(200, bool))
    assert ((p >= threshold) == (y == 1)).mean() > 0.9


def test_journalist_answers_are_scored_by_pattern_groups():
    from eval.answer_eval import matches_patterns

    question = {"pattern_groups": [["C[aâ]ciu"], ["financ"]], "min_groups": 2}
    assert matches_patterns(question, "Adrian Câciu, the finance minister")
    assert not matches_patterns(question, "Adrian Caciu")


def test_a_failed_translation_leaves_the_quote_in_its_language(sample_index):
    from assistant import GeneratorUnavailableError

    def broken(sentence, language):
        raise GeneratorUnavailableError("model gone")

    assistant = Assistant(sample_index, FakeGenerator("NOT_FOUND", translation=broken))
    assistant.refusal_model = ACCEPT
    answer = assistant.ask(RIVERTON_IN_FRENCH)
    assert not answer.refused and answer.text.startswith(EXTRACTIVE_LEAD["fr"])
    assert answer.citations[0].quote[:-1] in answer.text and " million" in answer.text, "the English quote, untranslated"


def test_a_number_the_question_gives_does_not_answer_how_many():
    from assistant.attribution import AttributedSentence
    from assistant.policy import draft_problem

    # dq077 of the Swiss dev set: "Gantry 3" made "all the patients" look like a count.
    question = "Combien de patients par an la Gantry 3 permettra-t-elle de traiter ?"
    for answer, refused in (("La Gantry 3 traitera tous les patients [1].", True),
                            ("La Gantry 3 traitera 450 patients par an [1].", False)):
        supported = [AttributedSentence(answer, [object()], 1.0, [])]
        problem = draft_problem(answer, supported, answer, "number", False, question)
        assert ("kind of fact" in problem) == refused, answer


def _evidence(question: str, sentences: list[tuple[str, float]]):
    from types import SimpleNamespace

    from assistant.evidence import Evidence

    n = len(sentences)
    return Evidence(question, "person", [SimpleNamespace(text=text) for text, _ in sentences], np.zeros((n, 4)),
                    np.array([relevance for _, relevance in sentences]), np.zeros(n), np.zeros(n))


def test_the_prompts_last_place_goes_to_a_sentence_holding_the_type_asked_for_when_none_before_does():
    from types import SimpleNamespace

    from assistant.evidence import Evidence

    closeness = np.array([0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    holds = np.array([0, 0, 0, 0, 0, 1.0])  # only the least close sentence names the amount asked for
    texts = ["Innosuisse approves boosters.", "Boosters run four years.", "They fund ideas.", "Calls open in May.",
             "Projects are chosen by a jury.", "The funding budget is 21.3 million francs."]
    evidence = Evidence("What is the funding budget?", "amount", [SimpleNamespace(text=t) for t in texts],
                        np.zeros((6, 4)), closeness, np.zeros(6), holds)
    assert evidence.prompt_rows(4) == [0, 1, 2, 5]
    assert evidence.prompt_rows(1) == [0]  # a single place stays the closest sentence's
    without = Evidence("What is the funding budget?", "amount", evidence.sentences, evidence.vectors, closeness,
                       np.zeros(6), np.zeros(6))
    assert without.prompt_rows(4) == [0, 1, 2, 3]  # no sentence holds it: the next best
    holds[1] = 1.0  # a close sentence already holds an amount: no other amount is added
    competing = Evidence("What is the funding budget?", "amount", evidence.sentences, evidence.vectors, closeness,
                         np.zeros(6), holds)
    assert competing.prompt_rows(4) == competing.ranked(4)


def test_an_answer_from_a_sentence_about_something_else_is_not_the_answer():
    from assistant.attribution import AttributedSentence
    from assistant.policy import SUBJECT_MARGIN, draft_problem

    # dq067 of the Swiss dev set: the delegation of another conference, named for the one asked about.
    question = "Who headed the Swiss delegation at the March 2013 CITES Conference of the Parties in Bangkok?"
    evidence = _evidence(question, [
        ("The CITES Conference of the Parties opens in Bangkok on 3 March 2013.", 0.77),
        ("The Swiss delegation was led by State Secretary Yves Rossier.", 0.77 - SUBJECT_MARGIN - 0.05),
        ("Mathias Lörtscher heads the Swiss delegation in Bangkok.", 0.77 - SUBJECT_MARGIN + 0.05),
    ])
    for answer, source, other_subject in (("The Swiss delegation was led by Yves Rossier [1].", 1, True),
                                          ("Mathias Lörtscher headed the Swiss delegation [1].", 2, False)):
        supported = [AttributedSentence(answer, [evidence.sentences[source]], 1.0, [])]
        problem = draft_problem(answer, supported, answer, "person", False, question, evidence)
        assert ("about something else" in problem) == other_subject, (answer, problem)
        assert not draft_problem(answer, supported, answer, "person", False, question), "no evidence: no check"


def test_a_passage_a_restating_draft_pointed_at_is_decided_by_the_judge():
    from assistant.policy import MIN_POINTED_YES, wants_judgement

    problem = "no answer sentence is supported by the sources (restates the question)"
    low, high = MIN_POINTED_YES - 0.05, MIN_POINTED_YES + 0.05
    # Its relevance may be below what a passed draft needs: the judge decides, and only the judge.
    assert decide({"relevance": 0.35, "model_yes": high}, "fake", model={}, problem=problem, pointed_at=True).refused is False
    assert decide({"relevance": 0.9, "model_yes": low}, "fake", model={}, problem=problem, pointed_at=True).refused is True
    unjudged = decide({"relevance": 0.9}, "fake", model={}, problem=problem, pointed_at=True)
    assert unjudged.refused and "not judged" in unjudged.reason
    assert wants_judgement(unjudged, problem, drawn_from_draft=False, pointed_at=True)
    assert not wants_judgement(unjudged, problem, drawn_from_draft=True), "a refused rule-decided offer is not judged"


def test_ablation_switches_a_rule_off_and_back_on():
    from eval.ablation import counts, switched_off

    values = {"relevance": 0.6, "source_relevance": 0.6, "model_yes": 0.1}
    assert policy.decide(values, "llm", {}).refused  # the judge's veto
    with switched_off("judge_veto"):
        assert not policy.decide(values, "llm", {}).refused
    assert policy.decide(values, "llm", {}).refused  # restored
    with switched_off("quote_drawn"):
        refused = policy.decide({"source_relevance": 0.9}, "llm", {}, problem="x", drawn_from_draft=True)
        assert refused.refused and "drawn quotes off" in refused.reason
    assert not policy.decide({"source_relevance": 0.9}, "llm", {}, problem="x", drawn_from_draft=True).refused
    summary = {"n_answerable": 10, "n_unanswerable": 4, "n_correct_and_cited": 6, "n_refused_unanswerable": 3,
               "n_false_refusals": 1}
    assert counts(summary) == (6, 3, 1, 3)


def test_the_ablations_judge_asks_each_judgement_once():
    from conftest import FakeGenerator

    from eval.ablation import RememberingJudge

    class CountingJudge(FakeGenerator):
        can_judge = True
        asked = 0

        def answer_probabilities(self, question, sentences, titles=None):
            self.asked += 1
            return [0.5] * len(sentences)

    from assistant.generators import GenerationRequest

    judge = CountingJudge(reply="Le budget est de 3 millions [1].")
    remembering = RememberingJudge(judge)
    assert remembering.answer_probabilities("Q?", ["a", "b"]) == [0.5, 0.5]
    assert remembering.answer_probabilities("Q?", ["a", "b"]) == [0.5, 0.5]
    assert judge.asked == 1
    request = GenerationRequest(question="Q?", language="fr", passages=[], system="", user="")
    assert "".join(remembering.stream(request)).strip() == "Le budget est de 3 millions [1]."  # passed through
