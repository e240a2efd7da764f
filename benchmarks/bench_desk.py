"""A desk asking at once: answers per minute with the real model, decoded together or one at a time.

    .venv/bin/python benchmarks/bench_desk.py [--users 8] [--rounds 2] [--index DIR]

Two ``porteparole serve --generator llm`` processes on the same index, one with
``PORTEPAROLE_DECODE_BATCH=1`` (one answer after another, as before 2026-12-03) and one with the
default (answers decoded together, ``assistant/llm/batching.py``). Each round, ``--users``
``gradio_client`` users on loopback ask one seed question each at the same moment, and stop once
answered; the two servers take turns, round by round (the idle one uses no CPU). Printed per
setting: answers per minute (users / time until the last answer), time to each user's first
token of the answer and to the whole answer (p50 and max); and the ratio of answers per minute,
pair by pair.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from reliability import ServeProcess, gradio_users, run_users  # noqa: E402  (serve in its own process, as users run it)

from eval.data import load_seed_questions  # noqa: E402


def one_round(url: str, questions: list[str]) -> dict:
    """Every user asks at once; the times are from the user's question."""
    clients = gradio_users(url, len(questions))
    first_token, whole, errors = [], [], []
    start = threading.Barrier(len(questions))

    def user(i: int) -> None:
        try:
            start.wait()
            began = time.perf_counter()
            history, *_ = clients[i].predict(questions[i], [], "", "", [], [], True, api_name="/find_sources")
            job = clients[i].submit(history, api_name="/write_answer")
            seen = None
            for update in job:
                text = update[0][-1]["content"] if update and update[0] else ""
                if seen is None and text and text != "…":
                    seen = time.perf_counter() - began
            job.result()
            first_token.append(seen if seen is not None else time.perf_counter() - began)
            whole.append(time.perf_counter() - began)
        except Exception as exc:  # noqa: BLE001 - counted and shown
            errors.append(f"{type(exc).__name__}: {exc}")

    run_users(user, clients)
    wall = max(whole) if whole else float("nan")
    return {"answers": len(whole), "errors": errors, "wall_s": wall, "answers_per_minute": 60 * len(whole) / wall,
            "first_token_s": first_token, "whole_s": whole}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="users asking at once (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per setting (default 2)")
    parser.add_argument("--index", type=Path, help="an index to serve (default: the sample communiqués, ingested here)")
    parser.add_argument("--out", type=Path, help="write every round's figures to this JSON file")
    args = parser.parse_args()

    index = args.index or Path(tempfile.mkdtemp(prefix="porteparole-desk-")) / "index"
    answerable = [q["question"] for q in load_seed_questions() if q["answerable"]]
    questions = [answerable[i % len(answerable)] for i in range(args.users)]
    settings = {"one at a time": {"PORTEPAROLE_DECODE_BATCH": "1"}, "together": {}}
    servers = {name: ServeProcess(index, "llm", env=env) for name, env in settings.items()}
    rounds: dict[str, list[dict]] = {name: [] for name in settings}
    try:
        for name, server in servers.items():  # each server's first answer pays for kernel set-up
            one_round(server.url, questions[:1])
        for r in range(args.rounds):
            for name in (list(settings) if r % 2 == 0 else list(settings)[::-1]):
                result = one_round(servers[name].url, questions)
                rounds[name].append(result)
                print(f"round {r + 1}, {name}: {result['answers_per_minute']:.1f} answers/min "
                      f"({result['wall_s']:.1f} s for {result['answers']}), errors {len(result['errors'])}", flush=True)
    finally:
        for server in servers.values():
            server.stop()

    print(f"\n{args.users} users at once, {args.rounds} rounds each, alternating:\n")
    print("| answers | answers per minute | first token p50 / max | whole answer p50 / max | errors |")
    print("|---|---|---|---|---|")
    for name, results in rounds.items():
        firsts = [t for result in results for t in result["first_token_s"]]
        wholes = [t for result in results for t in result["whole_s"]]
        print(f"| {name} | {statistics.median(r['answers_per_minute'] for r in results):.1f} | "
              f"{statistics.median(firsts):.1f} / {max(firsts):.1f} s | {statistics.median(wholes):.1f} / {max(wholes):.1f} s | "
              f"{sum(len(r['errors']) for r in results)} |")
    ratios = [b["answers_per_minute"] / a["answers_per_minute"] for a, b in zip(rounds["one at a time"], rounds["together"])]
    print(f"\nanswers per minute, together / one at a time, pair by pair: {', '.join(f'{r:.2f}' for r in ratios)}")
    if args.out:
        args.out.write_text(json.dumps(rounds, indent=1), encoding="utf-8")
    return 0 if all(not r["errors"] for results in rounds.values() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
