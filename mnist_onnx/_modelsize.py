"""What loading a model will cost, read before ONNX Runtime loads it: the file, plus every external data
file its tensors name (#29: a 31 KB model pointing at a sparse 2 GiB file took `classify` past 4 GB in one
second). A few dozen lines of protobuf wire format rather than the `onnx` package: the runtime does not
depend on it, and only the tensors' `external_data` entries are needed -- raw weights are skipped by length.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelError

MAX_MODEL_BYTES = 512 << 20  # a model and its external data; ours are 1-2 MB. MNIST_ONNX_MAX_MODEL_MB raises it.
_ENV = "MNIST_ONNX_MAX_MODEL_MB"

# field numbers (onnx.proto3)
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_EXTERNAL_DATA = 13
_ENTRY_KEY, _ENTRY_VALUE = 1, 2


def limit() -> int:
    try:
        return int(float(os.environ[_ENV]) * (1 << 20))
    except (KeyError, ValueError):
        return MAX_MODEL_BYTES


def check_size(path: Path) -> int:
    """The bytes *path* and its external data hold; ModelError past `limit()` (nothing is loaded)."""
    most = limit()
    size = path.stat().st_size
    if size > most:
        raise ModelError(f"{path}: {size / (1 << 20):,.0f} MiB, over the {most >> 20:,} MiB a model may have "
                         f"(set ${_ENV} to allow more)")
    with open(path, "rb") as f:
        data = f.read()
    total = size
    try:
        for location, offset, length in _external(data):
            target = path.parent / location
            try:
                available = max(0, target.stat().st_size - offset)
            except OSError:
                continue  # ONNX Runtime says what is missing
            total += available if length is None else min(length, available)
            if total > most:
                raise ModelError(f"{path}: its external data ({location}) make it over the {most >> 20:,} MiB a "
                                 f"model may have (set ${_ENV} to allow more)")
    except (IndexError, ValueError):
        return total  # not protobuf we can walk: ONNX Runtime says what is wrong with it
    return total


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end or the varint's value) of one message."""
    end = len(buf) if end is None else end
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, wire, value, value
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > end:
                raise ValueError("truncated")
            yield number, wire, i, i + n
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire}")


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _external(data: bytes) -> Iterator[tuple[str, int, int | None]]:
    """(location, offset, length or None) of every external tensor in the model's graphs."""
    for number, wire, a, b in _fields(data):
        if number == _MODEL_GRAPH and wire == 2:
            yield from _graph(data, a, b, depth=0)


def _graph(buf: bytes, a: int, b: int, depth: int) -> Iterator[tuple[str, int, int | None]]:
    if depth > 32:  # nested subgraphs (If, Loop) this deep are not a model anyone made
        raise ValueError("graphs nested too deep")
    for number, wire, s, e in _fields(buf, a, b):
        if wire != 2:
            continue
        if number == _GRAPH_INITIALIZER:
            yield from _tensor(buf, s, e)
        elif number == _GRAPH_SPARSE:
            yield from _sparse(buf, s, e)
        elif number == _GRAPH_NODE:
            for n2, w2, s2, e2 in _fields(buf, s, e):
                if n2 == _NODE_ATTRIBUTE and w2 == 2:
                    yield from _attribute(buf, s2, e2, depth)


def _attribute(buf: bytes, a: int, b: int, depth: int) -> Iterator[tuple[str, int, int | None]]:
    for number, wire, s, e in _fields(buf, a, b):
        if wire != 2:
            continue
        if number in (_ATTR_T, _ATTR_TENSORS):
            yield from _tensor(buf, s, e)
        elif number in (_ATTR_SPARSE, _ATTR_SPARSES):
            yield from _sparse(buf, s, e)
        elif number in (_ATTR_G, _ATTR_GRAPHS):
            yield from _graph(buf, s, e, depth + 1)


def _sparse(buf: bytes, a: int, b: int) -> Iterator[tuple[str, int, int | None]]:
    for number, wire, s, e in _fields(buf, a, b):
        if wire == 2 and number in (_SPARSE_VALUES, _SPARSE_INDICES):
            yield from _tensor(buf, s, e)


def _tensor(buf: bytes, a: int, b: int) -> Iterator[tuple[str, int, int | None]]:
    entries: dict[str, str] = {}
    for number, wire, s, e in _fields(buf, a, b):
        if number == _TENSOR_EXTERNAL_DATA and wire == 2:
            key = value = ""
            for n2, w2, s2, e2 in _fields(buf, s, e):
                if w2 == 2 and n2 == _ENTRY_KEY:
                    key = buf[s2:e2].decode("utf-8", "replace")
                elif w2 == 2 and n2 == _ENTRY_VALUE:
                    value = buf[s2:e2].decode("utf-8", "replace")
            entries[key] = value
    if "location" in entries:
        offset = int(entries.get("offset") or 0)
        length = int(entries["length"]) if entries.get("length") else None
        yield entries["location"], offset, length
