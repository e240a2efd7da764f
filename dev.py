#!/usr/bin/env python3
"""Set-up and entry points for a fresh clone, with nothing but Python 3.

    python3 dev.py chat     # set up, index the bundled sample communiqués, open the chat
    python3 dev.py test     # set up (with test tools and Chromium), run the tests and the evaluation

Set-up is idempotent: a virtual environment in .venv is created once and re-installed only when
pyproject.toml changes. Everything comes from the package registries (models included); nothing
is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
SAMPLE_CORPUS = ROOT / "samples" / "communiques"
SAMPLE_INDEX = ROOT / ".cache" / "sample-index"


def run(cmd: list[str], **kwargs) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kwargs)


def check(cmd: list[str], **kwargs) -> None:
    code = run(cmd, **kwargs)
    if code != 0:
        sys.exit(f"dev.py: command failed with exit status {code}: {' '.join(str(c) for c in cmd)}")


def ensure_venv(extras: str = "") -> None:
    """Create .venv and install the project (editable) when pyproject.toml or the extras changed."""
    if not PYTHON.exists():
        check([sys.executable, "-m", "venv", VENV])
        check([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    stamp = VENV / f".installed{extras.replace(',', '-')}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    # torch first and pinned: an unpinned resolution would pull a multi-GB CUDA build.
    check([PYTHON, "-m", "pip", "install", "--quiet", "torch==2.13.0"])
    target = f".[{extras}]" if extras else "."
    check([PYTHON, "-m", "pip", "install", "--quiet", "-e", target])
    stamp.write_text(wanted)


def ensure_chromium() -> str:
    """Debian's Chromium for the browser tests (Playwright cannot download its own browser here)."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    if shutil.which("apt-get"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        run(sudo + ["apt-get", "update", "-qq"])
        run(sudo + ["apt-get", "install", "-y", "-qq", "chromium"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else ""


def chat(extra_args: list[str]) -> int:
    ensure_venv()
    check([BIN / "porteparole", "ingest", SAMPLE_CORPUS, "--index", SAMPLE_INDEX, "--prune"])
    return run([BIN / "porteparole", "serve", "--index", SAMPLE_INDEX, *extra_args])


def test(extra_args: list[str]) -> int:
    ensure_venv("test,langchain,postgres")
    chromium = ensure_chromium()
    env = dict(os.environ)
    if chromium:
        env["PORTEPAROLE_CHROMIUM"] = chromium
    code = run([PYTHON, "-m", "pytest", *extra_args], env=env)
    if code == 5:  # pytest: no tests collected (e.g. a -k that matches nothing) is not a failure
        code = 0
    if code != 0 or extra_args:  # with pytest arguments, only the selected tests run
        return code
    # The evaluation suite with the real models: fails when a metric drops below eval/thresholds.toml.
    return run([BIN / "porteparole", "eval", "--ci", "--out", ROOT / ".cache" / "eval-report"], env=env)


def main() -> int:
    commands = {"chat": chat, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
