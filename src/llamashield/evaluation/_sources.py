"""Where labelled records come from: files (plain or compressed), standard input, Hugging Face.

Every reader yields ``(where, record)`` pairs: ``where`` ("data.jsonl.gz:12") goes into each
error message, ``record`` is one row as a mapping of column to value. Formats are told by the
file suffix under any compression suffix (``samples-1680.jsonl.gz`` is JSONL, gzip), and on
standard input (``-``) by the first bytes: compression magic, then ``{`` (JSONL), ``[``
(JSON) or anything else (CSV, or TSV when the header has tabs).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from llamashield._exceptions import SourceError

__all__ = ["STDIN", "Records", "decompress", "jsonl_records", "records"]

Records = Iterator[tuple[str, Mapping[str, Any]]]
STDIN = "-"
TEXT_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


def _zstd(data: bytes) -> bytes:
    try:
        import zstandard
    except ImportError:
        raise ImportError(
            "reading .zst files needs zstandard: pip install 'llamashield[zstd]'"
        ) from None
    # stream_reader copes with frames that do not record their size (zstd -c, streaming writers)
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        return reader.read()


_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress,
    ".bz2": bz2.decompress,
    ".xz": lzma.decompress,
    ".zst": _zstd,
}
_MAGIC = (
    (b"\x1f\x8b", ".gz"),
    (b"BZh", ".bz2"),
    (b"\xfd7zXZ\x00", ".xz"),
    (b"\x28\xb5\x2f\xfd", ".zst"),
)


def decompress(data: bytes, suffix: str, name: str) -> bytes:
    """Undo ``suffix``'s compression (".gz", ".bz2", ".xz", ".zst")."""
    try:
        return _DECOMPRESSORS[suffix](data)
    except ImportError:
        raise
    except Exception as exc:  # each codec has its own error type; all mean "not this format"
        raise SourceError(f"{name}: not a valid {suffix} file ({exc})") from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: Excel's CSVs start with a BOM
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def json_objects(
    lines: Iterable[str], error: Callable[[int, json.JSONDecodeError | None], Exception]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON object on each non-blank line, with its line number (from 1): the one JSONL
    reading that datasets and batch output files share. A line that is not JSON raises
    ``error(number, the decode error)``, one that is JSON but not an object ``error(number,
    None)``: each caller words its own message."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(number, exc) from None
        if not isinstance(record, dict):
            raise error(number, None)
        yield number, record


def jsonl_records(text: str, name: str) -> Records:
    def error(number: int, exc: json.JSONDecodeError | None) -> SourceError:
        if exc is None:
            return SourceError(f"{name}:{number}: each line must be a JSON object")
        return SourceError(f"{name}:{number}: not valid JSON ({exc.msg})")

    for number, record in json_objects(text.splitlines(), error):
        yield f"{name}:{number}", record


def _json_records(text: str, name: str) -> Records:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            # Some publishers (Aegis 2.0's *.json) write one object per line under .json
            return jsonl_records(text, name)
        raise SourceError(f"{name}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise SourceError(f"{name}: a .json data set must be a list of objects (or use .jsonl)")
    return ((f"{name}:{number}", record) for number, record in enumerate(data, start=1))


def _csv_records(text: str, name: str, delimiter: str) -> Records:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for record in reader:
        # line_num is the reader's physical line: right even when a quoted cell spans lines
        yield f"{name}:{reader.line_num}", record


def _text_records(text: str, suffix: str, name: str) -> Records:
    if suffix == ".json":
        return _json_records(text, name)
    if suffix in {".csv", ".tsv"}:
        return _csv_records(text, name, "\t" if suffix == ".tsv" else ",")
    return jsonl_records(text, name)


def _sniff(text: str) -> str:
    """The format of text read from standard input, from its first characters."""
    start = text.lstrip()[:1]
    if start == "{":
        return ".jsonl"
    if start == "[":
        return ".json"
    header = text.split("\n", 1)[0]
    return ".tsv" if "\t" in header else ".csv"


def _stdin_records(stream: BinaryIO | None = None) -> Records:
    data = (stream or sys.stdin.buffer).read()
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            data = decompress(data, suffix, "<stdin>")
            break
    text = _decode(data, "<stdin>")
    if not text.strip():
        raise SourceError("<stdin>: no data on standard input")
    return _text_records(text, _sniff(text), "<stdin>")


def _hf_records(
    source: str, split: str | None, subset: str | None, data_files: str | None = None
) -> Records:
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        if data_files is None and not Path(source).exists():
            raise SourceError(
                f"{source}: no such file (a Hugging Face data set name needs `pip install "
                "datasets`)"
            ) from None
        raise SourceError(
            f"{data_files or source!r} is not a .jsonl/.json/.csv/.tsv file (plain or .gz, "
            ".bz2, .xz, .zst); to read Parquet or a Hugging Face data set folder, "
            "pip install datasets"
        ) from None
    if data_files is not None:
        loaded: Any = datasets.load_dataset(source, data_files=data_files, split=split or "train")
        split = split or "train"
    else:
        loaded = datasets.load_dataset(source, subset, split=split)
    if split is None and isinstance(loaded, Mapping):
        splits = list(loaded.keys())
        if "test" in loaded:
            split = "test"
        elif len(splits) == 1:
            split = splits[0]
        else:
            raise SourceError(f"{source}: choose a split with --split ({', '.join(splits)})")
        loaded = loaded[split]
    for number, record in enumerate(loaded, start=1):
        yield f"{source}[{split or ''}]:{number}", record


def _looks_like_a_file(path: Path) -> bool:
    """A name with a data file's suffix (``x.jsonl.gz``) is a file, never a Hugging Face id."""
    suffixes = [s.lower() for s in path.suffixes]
    known = {*TEXT_FORMATS, *_DECOMPRESSORS, ".parquet"}
    return bool(suffixes) and suffixes[-1] in known


def records(source: str | Path, split: str | None = None, subset: str | None = None) -> Records:
    """The records of a file, of standard input (``"-"``), or of a Hugging Face data set."""
    if str(source) == STDIN:
        return _stdin_records()
    path = Path(source)
    if not path.exists() and _looks_like_a_file(path):
        raise SourceError(f"{path}: no such file")
    if not path.is_file():
        return _hf_records(str(source), split, subset)
    suffixes = [s.lower() for s in path.suffixes]
    compression = suffixes.pop() if suffixes and suffixes[-1] in _DECOMPRESSORS else None
    suffix = suffixes[-1] if suffixes else ""
    if suffix in TEXT_FORMATS:
        data = path.read_bytes()
        if compression is not None:
            data = decompress(data, compression, path.name)
        return _text_records(_decode(data, path.name), suffix, path.name)
    if suffix == ".parquet" and compression is None:
        return _hf_records("parquet", split, None, data_files=str(path))
    raise SourceError(
        f"{path}: unknown format {''.join(path.suffixes)!r}; use .jsonl, .json, .csv, .tsv "
        "(plain or compressed: .gz, .bz2, .xz, .zst) or .parquet"
    )
