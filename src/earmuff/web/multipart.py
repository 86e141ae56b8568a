"""An in-memory multipart/form-data parser for bounded bodies.

Starlette's form parser spools file parts larger than 1 MB to a temporary file: raw
audio would touch the disk in plaintext. The body is already capped and in memory, so
it is parsed here without ever leaving it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


class NotMultipartError(MultipartError):
    """The body is not multipart/form-data at all."""


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


def parse_multipart(
    content_type: str, body: bytes | bytearray, max_parts: int = 8
) -> dict[str, Part]:
    """Split ``body`` into its named parts; every defect is a :class:`MultipartError`."""
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise NotMultipartError("the request must be multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MultipartError("the multipart Content-Type has no valid boundary")
    collector = _PartCollector(max_parts)
    parser = MultipartParser(boundary, collector.callbacks())
    try:
        parser.write(cast(bytes, body))  # it only slices and searches: a bytearray will do
        parser.finalize()
    except MultipartError:
        raise
    except Exception as exc:
        raise MultipartError(f"malformed multipart body: {exc}") from None
    if not collector.finished:
        raise MultipartError("the multipart body ends before its closing boundary")
    return collector.parts


class _PartCollector:
    """Receives python-multipart's callbacks and assembles named parts."""

    def __init__(self, max_parts: int) -> None:
        self.max_parts = max_parts
        self.parts: dict[str, Part] = {}
        self.finished = False
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._current: Part | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or not name:
            raise MultipartError("a multipart part has no form-data name")
        try:
            text_name = name.decode()
            filename = params[b"filename"].decode() if b"filename" in params else None
        except UnicodeDecodeError:
            raise MultipartError("a multipart part name is not UTF-8") from None
        if text_name in self.parts:
            raise MultipartError(f"the field {text_name!r} appears twice")
        if len(self.parts) >= self.max_parts:
            raise MultipartError(f"more than {self.max_parts} multipart fields")
        raw_type = self._headers.get(b"content-type")
        part = Part(text_name, filename, raw_type.decode("latin-1") if raw_type else None)
        self.parts[text_name] = part
        self._current = part

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        """Copied once, through a view: slicing ``data`` first would copy it twice."""
        if self._current is not None:
            self._current.data += memoryview(data)[start:end]

    def _part_end(self) -> None:
        self._current = None

    def _end(self) -> None:
        self.finished = True
