"""Parsed candles of a CSV folder kept between runs, valid while every file keeps its size and
modification time: a rerun reads one marshal file instead of parsing every CSV again. The
parsing's warnings (a file without candles, a date repeated) are kept with them and logged again.

The cache lives in the data folder (`candle-cache/`), one file per CSV folder, never in the
user's own folder; a cache that cannot be read or written is passed over (the CSVs are parsed).
"""
from __future__ import annotations

import logging
import marshal
import os
import zlib
from pathlib import Path

from backtesting.data import SymbolHistory, is_csv_name, load_csv_dir, log_warnings, read_csv_dir

logger = logging.getLogger(__name__)

FORMAT = 2  # bump when what is stored changes


def _fingerprint(folder: Path) -> tuple:
    """(format, folder, (name, size, mtime_ns, ctime_ns) of every CSV): equal only while no
    file changed. The ctime too: an edit that keeps the size and puts the old mtime back
    (`touch -r`, an unpacked archive) still moves it, as nothing can set it."""
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_csv_name(entry.name):
                stat = entry.stat()
                files.append((entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return FORMAT, str(folder), tuple(sorted(files))


def cache_file(cache_dir: Path, folder: Path) -> Path:
    """Where the parsed candles of `folder` are kept."""
    return cache_dir / f"{zlib.crc32(str(folder).encode()):08x}.marshal"


def _read(path: Path, fingerprint: tuple
          ) -> tuple[dict[str, SymbolHistory], list[str]] | None:
    """The cached histories and warnings when `path` holds them for `fingerprint`, else None."""
    try:
        stored, histories, warnings = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if stored != fingerprint:
        return None
    return ({symbol: SymbolHistory(dates, closes) for symbol, (dates, closes) in histories.items()},
            warnings)


def _write(path: Path, fingerprint: tuple, histories: dict[str, SymbolHistory],
           warnings: list[str]) -> None:
    """Store `histories` and `warnings` atomically (a reader never sees half a file); a failure
    is logged."""
    data = (fingerprint, {symbol: (h.dates, h.closes) for symbol, h in histories.items()},
            warnings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps(data))
        os.replace(partial, path)
    except OSError as exc:
        logger.warning("candle cache not written to %s: %s", path, exc.strerror or exc)


def load_csv_dir_cached(folder: Path, cache_dir: Path) -> tuple[dict[str, SymbolHistory], bool]:
    """`load_csv_dir(folder)` and whether it came from the cache (parsed and stored otherwise);
    the parsing's warnings are logged either way."""
    folder = Path(folder).resolve()
    try:
        fingerprint = _fingerprint(folder)
    except OSError:
        return load_csv_dir(folder), False  # raises the loader's own error for the folder
    path = cache_file(cache_dir, folder)
    cached = _read(path, fingerprint)
    if cached is None:
        histories, warnings = read_csv_dir(folder)
        _write(path, fingerprint, histories, warnings)
    else:
        histories, warnings = cached
    log_warnings(warnings)
    return histories, cached is not None
