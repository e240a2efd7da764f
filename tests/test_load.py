"""A desk of users at once through the chat's own API (``gradio_client``, as a browser would):
every user sees the sources at once, even while the model writes other users' answers."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from conftest import SAMPLES, FakeGenerator, Server, echo_best_passage

pytestmark = pytest.mark.reliability

USERS = 12
SECONDS_PER_ANSWER = 0.8  # the fake model writes one answer at a time, like the real one
QUESTIONS = ["How much does a night bus ticket cost in Northbay?", "Combien coûte la rénovation de la bibliothèque ?",
             "Qui a signé l'entente entre Toulouse et Montréal ?", "When do the night buses start?"]


class SerialSlowGenerator(FakeGenerator):
    """Holds one lock while it writes, for a fixed time: answers queue as with the real model."""

    lock = threading.Lock()

    def stream(self, request):
        with self.lock:
            time.sleep(SECONDS_PER_ANSWER)
            yield from super().stream(request)


def test_every_user_sees_sources_at_once_while_answers_queue(tmp_path, fake_embedder):
    from gradio_client import Client

    from assistant import Assistant
    from index import ingest_paths
    from ui.app import ChatApp

    index = ingest_paths([SAMPLES], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    server = Server(ChatApp(Assistant(index, SerialSlowGenerator(echo_best_passage))))
    clients = [Client(server.url + "/", verbose=False) for _ in range(USERS)]
    # One question first, as a server that has been up a while has had: the first one pays for
    # lazy imports and cold caches (2.4 s for everyone on a fresh machine), which is not queueing.
    clients[0].predict(QUESTIONS[0], [], "", "", [], [], True, api_name="/find_sources")
    to_sources, to_answer, errors = [], [], []
    start = threading.Barrier(USERS)

    def user(i: int) -> None:
        client = clients[i]
        try:
            start.wait()
            began = time.perf_counter()
            history, panel, _, _ = client.predict(QUESTIONS[i % len(QUESTIONS)], [], "", "", [], [], True, api_name="/find_sources")
            to_sources.append(time.perf_counter() - began)
            assert 'data-state="sources"' in panel or "pp-hit" in panel, panel[:300]
            history, panel, plain = client.predict(history, api_name="/write_answer")[:3]
            to_answer.append(time.perf_counter() - began)
            assert plain and history[-1]["content"] != "…", (plain[:200], history[-1])
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"user {i}: {type(exc).__name__}: {exc}")

    try:
        threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for client in clients:
            client.close()
        server.stop()
    print(f"\n{USERS} users: sources p50 {statistics.median(to_sources):.2f} s, max {max(to_sources):.2f} s; "
          f"answers p50 {statistics.median(to_answer):.2f} s, max {max(to_answer):.2f} s")
    assert errors == []
    assert max(to_sources) < 2.0, sorted(to_sources)
    # The answers did queue behind one another (the check above is not trivially true).
    assert max(to_answer) > (USERS - 2) * SECONDS_PER_ANSWER
