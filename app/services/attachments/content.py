"""What an uploaded file is, judged by its bytes as they arrive: a PDF, PNG, JPEG or UTF-8 plain text, or refused (415).

The file's name and the client's Content-Type are never consulted. The first bytes decide
between the binary kinds; anything else must be UTF-8 text, checked piece by piece to the
end, without NUL or any control character but tab, CR and LF.
"""

import codecs
import re

from app.errors import FieldError, ProblemError
from app.models.attachment import MediaType

FIELD = "file"
MAGIC_BYTES = 8  # enough to tell every signature below apart
SIGNATURES = ((b"%PDF-", MediaType.PDF), (b"\x89PNG\r\n\x1a\n", MediaType.PNG), (b"\xff\xd8\xff", MediaType.JPEG))
# Programs, refused by name: Windows (PE), Linux and most Unix (ELF), macOS (Mach-O,
# both byte orders, and fat binaries).
EXECUTABLES = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O executable"),
)
# C0 controls but tab, LF and CR; DEL; the C1 controls.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
ACCEPTED = "a PDF, PNG, JPEG or UTF-8 plain text file"
TEXT_SLICE = 16 * 1024  # decoded a slice at a time, so a piece of text never costs more than this as a str


class UnsupportedMediaType(ProblemError):
    status_code = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"

    def __init__(self, message: str, *, field: str = FIELD):
        super().__init__(f"{field}: {message}", errors=[FieldError(field=field, location="body", message=message)])


class ContentCheck:
    """Fed the file's bytes in order; `media_type` once enough has been seen, `finish` at the end
    (415 as soon as it is wrong)."""

    def __init__(self) -> None:
        self._head = b""
        self.media_type: MediaType | None = None
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._text_offset = 0

    def feed(self, piece: memoryview) -> None:
        """Check the next piece of the file."""
        if self.media_type is None:
            wanted = MAGIC_BYTES - len(self._head)
            self._head += bytes(piece[:wanted])
            if len(self._head) < MAGIC_BYTES:
                return  # judged once the head is whole, or at the end of a shorter file
            self._judge()
            piece = piece[wanted:]
        if self.media_type is MediaType.TEXT:
            self._check_text(piece)

    def finish(self) -> MediaType:
        """The media type of the whole file; 415 when it ended as none we accept, 422 when it was empty."""
        if not self._head:
            raise EmptyFile()
        if self.media_type is None:
            self._judge()
        assert self.media_type is not None
        if self.media_type is MediaType.TEXT:
            try:
                self._text.decode(b"", final=True)
            except UnicodeDecodeError:
                raise UnsupportedMediaType(f"the file ends inside a UTF-8 character; it must be {ACCEPTED}") from None
        return self.media_type

    def _judge(self) -> None:
        """Decide from the head: refuse a program, name a binary kind,
        or take it for text and check the head as such."""
        for signature, what in EXECUTABLES:
            if self._head.startswith(signature):
                raise UnsupportedMediaType(f"the file is {what}; it must be {ACCEPTED}")
        for signature, media_type in SIGNATURES:
            if self._head.startswith(signature):
                self.media_type = media_type
                return
        self.media_type = MediaType.TEXT
        self._check_text(memoryview(self._head))

    def _check_text(self, piece: memoryview) -> None:
        for start in range(0, len(piece), TEXT_SLICE):
            try:
                text = self._text.decode(piece[start : start + TEXT_SLICE])
            except UnicodeDecodeError as error:
                raise UnsupportedMediaType(
                    f"byte {self._text_offset + start + error.start} is not UTF-8; the file must be {ACCEPTED}"
                ) from None
            bad = CONTROL.search(text)
            if bad is not None:
                raise UnsupportedMediaType(
                    f"the text holds the control character U+{ord(bad.group()):04X}; the file must be {ACCEPTED}"
                )
        self._text_offset += len(piece)


class EmptyFile(ProblemError):
    status_code = 422
    title = "Invalid request"
    slug = "validation"

    def __init__(self) -> None:
        message = "the file is empty"
        super().__init__(f"{FIELD}: {message}", errors=[FieldError(field=FIELD, location="body", message=message)])
