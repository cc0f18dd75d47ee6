"""An upload's multipart/form-data body, read as a stream with python-multipart's push parser.

Starlette's `request.form()` is not used: it keeps up to 1 MB of each file in memory. Here the
body is fed to the parser as it arrives; the small fields (`kind`, `description`) are kept,
each bounded, and the file's bytes are handed on piece by piece, as views of what arrived,
to be checked, hashed and stored. The whole body is bounded too (the file's limit plus
FORM_OVERHEAD), and nothing after the closing boundary is read.
"""

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.errors import FieldError, InvalidInput, PayloadTooLarge, ProblemError
from app.models.attachment import MAX_DESCRIPTION_CHARS, MAX_FILENAME_CHARS
from app.models.vocabulary import AttachmentKind
from app.services.attachments.content import UnsupportedMediaType
from app.services.attachments.uploads import KINDS, BodyReader, Sink, UploadForm

FILE = "file"
KIND, DESCRIPTION = "kind", "description"
FIELD_BYTES = {KIND: 64, DESCRIPTION: 4 * MAX_DESCRIPTION_CHARS}  # the most a field's value may take, as UTF-8
MAX_PARTS = 8
FORM_OVERHEAD = 64 * 1024  # what the body may hold beyond the file's content: boundaries, part headers, the fields
UNREAD = {"Connection": "close"}  # the rest of the body is never read, so the connection cannot be reused


class MalformedForm(ProblemError):
    status_code = 400
    title = "Malformed multipart body"
    slug = "malformed-multipart"

    def __init__(self, message: str):
        super().__init__(f"body: {message}", errors=[FieldError(field="body", location="body", message=message)])


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    value: bytearray = field(default_factory=bytearray)


class _Reader:
    """python-multipart's callbacks: they keep the fields and queue views of the
    file's bytes for `read_form` to pass on."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.form = UploadForm()
        self.pieces: list[memoryview] = []
        self.file_bytes = 0
        self.parts = 0
        self.ended = False
        self.seen: set[str] = set()
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MalformedForm(f"more than {MAX_PARTS} parts; send kind, file and at most a description")
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._part.headers[bytes(self._header_name).lower()] = bytes(self._header_value).strip(b" \t")
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._part.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedForm(
                'each part needs a Content-Disposition of form-data with a name ("form-data; name=kind")'
            )
        name = _text(options[b"name"])
        if name not in (FILE, KIND, DESCRIPTION):
            raise InvalidInput(name[:64] or "body", f"unknown field; the form takes {FILE}, {KIND} and {DESCRIPTION}")
        if name in self.seen:
            raise InvalidInput(name, "given more than once" if name != FILE else "only one file may be sent at a time")
        self.seen.add(name)
        self._part.name = name
        if name == FILE:
            self.form.has_file = True
            self.form.filename = safe_filename(_text(options[b"filename"])) if b"filename" in options else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        name = self._part.name
        if name == FILE:
            self.file_bytes += end - start
            if self.file_bytes > self.max_file_bytes:
                raise PayloadTooLarge(
                    f"the file is larger than {self.max_file_bytes} bytes (CALDICOTT_ATTACHMENT_MAX_BYTES)",
                    headers=UNREAD,
                )
            # A view, not a copy: the parser only ever passes immutable bytes (what arrived, or its boundary).
            self.pieces.append(
                memoryview(data)[start:end] if isinstance(data, bytes) else memoryview(bytes(data[start:end]))
            )
            return
        assert name is not None
        self._part.value += data[start:end]
        if len(self._part.value) > FIELD_BYTES[name]:
            raise InvalidInput(name, f"longer than {FIELD_BYTES[name]} bytes")

    def on_part_end(self) -> None:
        name = self._part.name
        if name == KIND:
            value = _field_text(KIND, self._part.value).strip()
            try:
                self.form.kind = AttachmentKind(value)
            except ValueError:
                raise InvalidInput(KIND, f"must be one of: {KINDS}") from None
        elif name == DESCRIPTION:
            value = _field_text(DESCRIPTION, self._part.value).strip()
            if len(value) > MAX_DESCRIPTION_CHARS:
                raise InvalidInput(DESCRIPTION, f"longer than {MAX_DESCRIPTION_CHARS} characters")
            self.form.description = value or None

    def on_end(self) -> None:
        self.ended = True


def body_reader(request: Request, *, max_file_bytes: int) -> BodyReader:
    """What the upload service reads the request's body with."""
    return partial(read_form, request, max_file_bytes=max_file_bytes)


async def read_form(request: Request, sink: Sink, *, max_file_bytes: int) -> UploadForm:
    """Read the whole form from the request's stream, passing the file's bytes to `sink` as they arrive."""
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data, with the fields kind and file", field="body")
    if not options.get(b"boundary"):
        raise MalformedForm("the Content-Type names no boundary")
    reader = _Reader(max_file_bytes)
    try:
        parser = MultipartParser(options[b"boundary"], reader.callbacks())  # type: ignore[arg-type]
    except FormParserError as error:
        raise MalformedForm(str(error)) from None
    limit, received = max_file_bytes + FORM_OVERHEAD, 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(
                    "the body is larger than the file's limit "
                    f"({max_file_bytes} bytes) and {FORM_OVERHEAD} bytes of form",
                    headers=UNREAD,
                )
            parser.write(chunk)
            for piece in reader.pieces:
                await sink(piece)
            reader.pieces.clear()
            if reader.ended:
                break  # an epilogue after the closing boundary is never read
    except FormParserError as error:
        raise MalformedForm(f"not valid multipart/form-data ({error})") from None
    except ClientDisconnect:
        raise MalformedForm("the client went away before the body ended") from None
    if not reader.ended:
        raise MalformedForm("the body ended before the closing boundary")
    return reader.form


def _text(value: bytes) -> str:
    """A header parameter as text: UTF-8 as browsers send it, else Latin-1 as HTTP once had it."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _field_text(name: str, value: bytearray) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(name, "not UTF-8 text") from None
    if "\x00" in text:
        raise InvalidInput(name, "holds a NUL character")
    return text


def safe_filename(name: str) -> str | None:
    """The last part of a sent file name, without control characters,
    at most MAX_FILENAME_CHARS long; None if nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip().strip(".")
    return cleaned[-MAX_FILENAME_CHARS:] or None
