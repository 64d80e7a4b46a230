"""Static files as a phone on a slow network wants them: fingerprinted, immutable, compressed.

At start-up every file of static/ is copied once per content into data/static/ under a name
carrying its content hash (`app.css` → `app.3f2c9a1b7e4d.css`), with gzip and Brotli variants
beside it (WhiteNoise's compressor). WhiteNoise serves those names with `Cache-Control:
immutable` in the best encoding the browser accepts, and `url_for('static', filename=...)` hands
out the fingerprinted names, so a browser fetches each version of a file once. A new content
is a new name: a cached copy is never stale. A plain /static/ path still reaches Flask's own
static route, which revalidates.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from config import PROJECT_DIR

logger = logging.getLogger(__name__)

BUILD_DIR = PROJECT_DIR / "data" / "static"
HASH_LENGTH = 12


def init_static_files(app: Flask, headers: Mapping[str, str], build_dir: Path = BUILD_DIR) -> None:
    """Serve `app`'s static files under fingerprinted names through WhiteNoise, each response
    carrying `headers`; when `build_dir` cannot be written, Flask's static route serves them."""
    try:
        names = build(Path(app.static_folder), build_dir)
    except OSError as exc:
        logger.warning("static files are served without fingerprints or compression: cannot "
                       "write %s (%s)", build_dir, exc.strerror or exc)
        return

    def fingerprinted(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and values.get("filename") in names:
            values["filename"] = names[values["filename"]]

    def add_headers(found: Any, path: str, url: str) -> None:
        for name, value in headers.items():
            found[name] = value

    app.url_defaults(fingerprinted)
    # every name in the build folder carries its content's hash, so all of them are immutable
    app.wsgi_app = WhiteNoise(app.wsgi_app, root=build_dir, prefix=app.static_url_path,
                              allow_all_origins=False, immutable_file_test=lambda path, url: True,
                              add_headers_function=add_headers)


def build(source: Path, target: Path) -> dict[str, str]:
    """Copy each file of `source` into `target` under its fingerprinted name, with compressed
    variants, unless an earlier start did; return {original name: fingerprinted name}."""
    names = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        original = path.relative_to(source).as_posix()
        data = path.read_bytes()
        names[original] = fingerprint(original, hashlib.sha256(data).hexdigest()[:HASH_LENGTH])
        built = target / names[original]
        if not built.exists():
            write_with_variants(built, data)
    return names


def fingerprint(name: str, digest: str) -> str:
    """`vendor/bootstrap.min.css` → `vendor/bootstrap.min.<digest>.css`."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest}"
    return f"{stem}.{digest}.{suffix}"


def write_with_variants(built: Path, data: bytes) -> None:
    """Write `built` and its .gz/.br variants through temporary names, the file itself last, so
    a process starting meanwhile sees either nothing or a whole set."""
    built.parent.mkdir(parents=True, exist_ok=True)
    draft = built.with_name(f".{built.name}.{os.getpid()}")
    draft.write_bytes(data)
    for variant in Compressor(quiet=True).compress(str(draft)):
        os.replace(variant, f"{built}{variant.removeprefix(str(draft))}")
    os.replace(draft, built)
