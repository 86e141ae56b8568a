"""An in-memory multipart/form-data parser for bounded bodies.

Starlette's form parser spools file parts larger than 1 MB to a temporary file: raw
audio would touch the disk in plaintext. The body is already capped and in memory, so
it is parsed here without ever leaving it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


def parse_multipart(content_type: str, body: bytes, max_parts: int = 8) -> dict[str, Part]:
    """Split ``body`` into its named parts; every defect is a :class:`MultipartError`."""
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise MultipartError("the request must be multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MultipartError("the multipart Content-Type has no valid boundary")

    parts: dict[str, Part] = {}
    headers: dict[bytes, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()
    current: list[Part | None] = [None]
    finished = [False]

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or not name:
            raise MultipartError("a multipart part has no form-data name")
        try:
            text_name = name.decode()
            filename = params[b"filename"].decode() if b"filename" in params else None
        except UnicodeDecodeError:
            raise MultipartError("a multipart part name is not UTF-8") from None
        if text_name in parts:
            raise MultipartError(f"the field {text_name!r} appears twice")
        if len(parts) >= max_parts:
            raise MultipartError(f"more than {max_parts} multipart fields")
        raw_type = headers.get(b"content-type")
        part = Part(text_name, filename, raw_type.decode("latin-1") if raw_type else None)
        parts[text_name] = part
        current[0] = part

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = current[0]
        if part is not None:
            part.data.extend(data[start:end])

    def on_part_end() -> None:
        current[0] = None

    def on_end() -> None:
        finished[0] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartError:
        raise
    except Exception as exc:
        raise MultipartError(f"malformed multipart body: {exc}") from None
    if not finished[0]:
        raise MultipartError("the multipart body ends before its closing boundary")
    return parts
