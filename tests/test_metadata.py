"""Titles and issuers that are inferred (and marked so), staff-set metadata, and the index's merge of writers."""

from __future__ import annotations

import json

import pytest

from index import Index, ingest_paths
from ingest import Document, MetadataFileError, derive_title, find_speaker, read_documents, read_metadata_csv
from ingest.metadata import find_from_line
from ui.cli import main


@pytest.mark.parametrize("text, issuer", [
    ("La Ville de Montréal a annoncé mardi la signature d'une entente.", "Ville de Montréal"),
    ("On 3 May, the Federal Council decided to open the consultation.", "Federal Council"),
    ("L'Office fédéral de la communication (OFCOM) a présenté les résultats.", "Office fédéral de la communication (OFCOM)"),
    ("The Riverton City Council has approved the budget for 2025.", "Riverton City Council"),
    ("Le Secrétariat d'Etat à l'économie publie ses prévisions.", "Secrétariat d'Etat à l'économie"),
    # Nobody speaks in the first sentence: nothing is guessed.
    ("Les travaux commenceront en mars. Le Conseil municipal a approuvé le budget.", ""),
    ("The weather was fine and the office was closed.", ""),
    ("", ""),
])
def test_speaker_in_the_first_sentence(text, issuer):
    assert find_speaker(text) == issuer


def test_from_line_and_derived_title():
    assert find_from_line("From: Riverton Public Library <press@riverton.example>\nSubject: x") == "Riverton Public Library"
    assert find_from_line("De : Mairie de Lyon\n\nTexte") == "Mairie de Lyon"
    assert find_from_line("Nothing here\nfrom the start") == ""
    assert derive_title("COMMUNIQUÉ DE PRESSE\n\n2 mars 2022\n\nLe musée rouvre ses portes samedi. Entrée libre.") == \
        "Le musée rouvre ses portes samedi."
    long = derive_title("Le " + "très " * 60 + "long titre.")
    assert long.endswith("…") and len(long) <= 101 and not long[:-1].endswith(" ")
    assert derive_title("Oui.") == ""


def test_issuer_order_and_origins(tmp_path):
    folder = tmp_path / "communiques" / "Mairie de Lyon"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("From: Métropole de Lyon\n\nLe musée rouvre samedi prochain.", encoding="utf-8")
    (folder / "b.txt").write_text("Le musée rouvre samedi prochain, a-t-on appris.", encoding="utf-8")
    docs = {d.doc_id: d for d in read_documents([tmp_path / "communiques"]).documents}
    assert (docs["a"].issuer, docs["a"].origin["issuer"]) == ("Métropole de Lyon", "text")
    assert (docs["b"].issuer, docs["b"].origin["issuer"]) == ("Mairie de Lyon", "folder")
    flagged = {d.doc_id: d for d in read_documents([tmp_path / "communiques"], issuer="Ville de Lyon").documents}
    assert (flagged["b"].issuer, flagged["b"].origin["issuer"]) == ("Ville de Lyon", "flag")
    assert flagged["b"].origin["title"] == "derived" and flagged["b"].stated("issuer") == "Ville de Lyon"


def test_derived_title_is_not_embedded(tmp_path, fake_embedder):
    (tmp_path / "a.txt").write_text("La Ville de Montréal a annoncé une entente. " * 5, encoding="utf-8")
    index = ingest_paths([tmp_path / "a.txt"], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    doc = index.documents["a"]
    assert doc.title and doc.origin["title"] == "derived"
    assert all(chunk.embed_text == chunk.text for chunk in index.chunks)


def test_metadata_csv_sets_fields_and_survives_reingest(sample_corpus, tmp_path, fake_embedder):
    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    csv = tmp_path / "meta.csv"
    csv.write_text("doc_id,title,issuer\n001_82cb9e71a3077cb4,Montréal et Toulouse signent une entente,Ville de Montréal\n",
                   encoding="utf-8")
    result = ingest_paths([], index_dir, embedder=fake_embedder, progress=False, metadata=read_metadata_csv(csv))
    doc = result.index.documents["001_82cb9e71a3077cb4"]
    assert doc.title == "Montréal et Toulouse signent une entente" and doc.origin["title"] == "set"
    assert result.update.updated == ["001_82cb9e71a3077cb4"] and result.read.problems == []
    # A staff-set title is a stated title: it is prefixed to what is embedded.
    assert any(c.embed_text.startswith("Montréal et Toulouse") for c in result.index.chunks if c.doc_id == doc.doc_id)
    # Ingesting the unchanged folder again keeps what staff set.
    again = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert again.index.documents[doc.doc_id].title == doc.title
    assert doc.doc_id in again.update.unchanged
    assert not any(row["doc_id"] == doc.doc_id and "title" in row["inferred"]
                   for row in again.index.info()["metadata_to_check"])


def test_metadata_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    for content, message in [
        ("title\nx\n", "starting with doc_id"),
        ("doc_id,colour\na,red\n", "unknown column"),
        ("doc_id,date\na,2 mars\n", ":2: date must be"),
        ("doc_id,lang\na,de\n", "lang must be fr or en"),
        ("doc_id,title\n,x\n", "empty doc_id"),
    ]:
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(MetadataFileError, match=message):
            read_metadata_csv(bad)
    bad.write_bytes("doc_id,title\na,caf\xe9\n".encode("latin-1"))
    with pytest.raises(MetadataFileError, match="not UTF-8"):
        read_metadata_csv(bad)


def test_cli_metadata_and_info(sample_corpus, tmp_path, capsys, monkeypatch, fake_embedder):
    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    monkeypatch.setattr("index.index.embedder_from_spec", lambda spec: fake_embedder)
    assert main(["info", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert "Metadata to check (1 documents" in out and "001_82cb9e71a3077cb4: title: from the first sentence" in out
    csv = tmp_path / "meta.csv"
    csv.write_text("doc_id,issuer\nno-such-doc,X\n", encoding="utf-8")
    assert main(["ingest", "--index", str(index_dir), "--metadata", str(csv), "--quiet"]) == 1
    assert "no document with this doc_id" in capsys.readouterr().err
    assert main(["ingest", "--index", str(index_dir)]) == 2
    assert "--metadata FILE.csv" in capsys.readouterr().err


def test_two_writers_keep_each_others_documents(tmp_path, fake_embedder):
    """An index opened before another writer's update merges into the current generation (no lost update)."""
    index_dir = tmp_path / "idx"
    Index.open_or_create(index_dir, fake_embedder).update([Document(doc_id="first", text="Premier communiqué. " * 10)],
                                                           progress=False)
    stale = Index.open(index_dir, fake_embedder)
    Index.open(index_dir, fake_embedder).update([Document(doc_id="cli", text="Communiqué de la nuit. " * 10)], progress=False)
    stale.update([Document(doc_id="upload", text="Communiqué téléversé. " * 10)], progress=False)
    assert set(Index.open(index_dir, fake_embedder).documents) == {"first", "cli", "upload"}


def test_byline_acronym_is_spelled_out_from_the_text():
    from ingest.metadata import find_byline

    assert find_byline("(FSO) – The index calculated by the Swiss Federal Statistical Office (FSO) fell.") == \
        "Swiss Federal Statistical Office (FSO)"
    assert find_byline("Berne, 12.03.2019 (OFS) – Les prix ont baissé.") == "OFS"
    assert find_byline("Les prix (OFS) – ont baissé.") == ""


def test_metadata_eval_counts_right_wrong_missing_and_invented(tmp_path):
    from eval.data import load_eval_data
    from eval.metadata_eval import metadata_section, same_organisation

    assert same_organisation("Federal Council", "The Federal Council")
    assert same_organisation("Office fédéral de la communication (OFCOM)", "Office fédéral de la communication")
    assert not same_organisation("World Bank", "State Secretariat for Economic Affairs")
    rows = [
        {"doc_id": "a-fr", "release_id": "1", "title": "Le Conseil fédéral adopte le message", "issuer": "Conseil fédéral",
         "text": "Le Conseil fédéral a adopté le message sur le budget. Suite du texte."},
        {"doc_id": "b-en", "release_id": "2", "title": "Loans", "issuer": "State Secretariat for Economic Affairs",
         "text": "The World Bank has approved new loans for the region. More."},
        {"doc_id": "c-en", "release_id": "3", "title": "Weather", "issuer": "Federal Office of Meteorology",
         "text": "It was a warm summer across the country this year."},
    ]
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    summary = metadata_section(load_eval_data(tmp_path))["swiss"]["all"]
    assert summary["n"] == 3 and summary["title_usable"] == 1.0
    assert abs(summary["issuer_right"] - 1 / 3) < 1e-9 and abs(summary["issuer_wrong"] - 1 / 3) < 1e-9
    assert summary["issuer_precision"] == 0.5 and summary["issuer_invented"] == 0.0
