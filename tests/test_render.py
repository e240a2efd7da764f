"""What the chat shows, without a browser: document text stays text, cards stay small, and an
answer's cards come from the index it was made from."""

from __future__ import annotations

import re

from conftest import FakeGenerator, echo_best_passage

from assistant import Answer, Assistant, Citation
from index import Index
from ingest import Document
from ui.app import ChatApp
from ui.render import FULL_TEXT_WINDOW, answer_markdown, citation_card, hit_card


def test_markdown_from_documents_stays_text():
    """No test of the browser needed: what the chat bubble gets is plain text with our links only."""
    answer = Answer(question="q", text="Voir ![pixel](https://tracker.example/p.png) et [le site](https://evil.example) [1].",
                    language="fr", refused=False)
    bubble = answer_markdown(answer)
    assert "![" not in bubble and "](https://evil" not in bubble.replace("\\](", "")
    assert '<a href="#pp-src-1" class="pp-cite">[1]</a>' in bubble


def test_a_card_shows_a_window_of_a_huge_document():
    text = "Début. " + "Une phrase de remplissage. " * 200_000 + "La citation utile. " + "Fin. " * 10_000
    start = text.index("La citation utile.")
    citation = Citation(n=1, doc_id="big", title="T", date="", issuer="", lang="fr", source="", url="",
                        quote="La citation utile.", char_start=start, char_end=start + 18)
    card = citation_card(citation, text, Document(doc_id="big", text=text), "fr")
    assert "La citation utile." in card and len(card) < 3 * FULL_TEXT_WINDOW + 5_000


def test_cards_show_the_documents_the_answer_was_made_from(sample_index, tmp_path, fake_embedder):
    """An upload that replaces a document while an answer is made must not shift its highlights."""
    chat = ChatApp(Assistant(sample_index, FakeGenerator(echo_best_passage)))
    replacement = Index.open_or_create(tmp_path / "other", fake_embedder)
    replacement.update([Document(doc_id="northbay-night-buses", text="Tout autre texte, sans rapport. " * 60, lang="fr")],
                       progress=False)
    *_, (history, _, _, _, pending) = chat.find_sources("How much does a night bus ticket cost in Northbay?",
                                                        [], "", "", [], [])
    chat.swap_index(replacement)  # an upload lands while the answer is being made
    *_, (history, panel, plain, cleared) = chat.write_answer(history, pending)
    assert cleared is None
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", panel, re.DOTALL)
    assert marked and "Tout autre texte" not in "".join(marked)
    assert "$2.75" in "".join(marked)


def test_the_other_language_version_is_a_fold_out_of_the_same_card():
    from index import Chunk, Hit
    from index.types import OtherVersion

    french = Document(doc_id="cp-fr", text="Le billet coûte 2,75 $. <script>alert(1)</script>", lang="fr", title="Bus de nuit",
                      date="2024-12-02")
    english = Document(doc_id="cp-en", text="A ticket costs $2.75.", lang="en", title="Night buses", date="2024-12-02")
    hit = Hit(Chunk("cp-en#0", "cp-en", 0, 0, 21, english.text, english.text), english, 0.9, 1,
              other_versions=(OtherVersion(french, Chunk("cp-fr#0", "cp-fr", 0, 0, len(french.text), french.text, "")),))
    card = hit_card(hit, "en")
    assert card.count('<div class="pp-card ') == 1 and '<details class="pp-version" lang="fr">' in card
    assert "French version" in card and "Bus de nuit" in card and " · FR · cp-fr" in card
    assert "<script>" not in card and "&lt;script&gt;" in card


def test_an_answer_starts_once_the_sources_being_looked_up_are_found():
    import threading
    import time

    from ui.app import SourcesFirst

    gate, found = SourcesFirst(), threading.Event()

    def lookup():
        with gate.looking_up():
            found.wait(5)

    threading.Thread(target=lookup).start()
    time.sleep(0.05)
    assert gate.wait_for_sources(most=0.05) is False, "a lookup is running: the answer gives up waiting after most"
    threading.Timer(0.2, found.set).start()
    started = time.monotonic()
    assert gate.wait_for_sources(most=5) is True
    assert 0.1 < time.monotonic() - started < 3
    assert gate.wait_for_sources(most=0) is True, "nothing running: no wait"
