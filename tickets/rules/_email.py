"""Email in, as pure rules: raw RFC 822 bytes become a ParsedEmail, whatever they hold.

Everything here assumes hostile input. The stdlib parser splits the MIME structure,
with `email.policy.default`'s settings, but every header is read through a length cap
and a guard: the header registry is quadratic on some values (125 s for a 1 MB
Content-Type of `a=b;` parameters) and recursive on others (nested comments raise
RecursionError). Bodies are decoded by hand so that no charset name, however wrong,
raises. HTML goes through nh3 (ammonia) only after its tag count is capped, because
html5ever's tree builder is quadratic in the depth of misnested elements.

`email_parse` raises EmailUnparseable and nothing else; a limit that is hit is a
defect in the result, not an exception, so a worker never dies on one message.
"""

import codecs
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email import utils as email_utils
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from html.parser import HTMLParser
from io import BytesIO

import nh3

# --- Public shapes ----------------------------------------------------------------


class EmailUnparseable(Exception):
    """Raised only when the bytes are not an email at all; the reason is the message."""


@dataclass(frozen=True)
class ParsedAttachment:
    """One attachment or inline part.

    `filename` is a safe display name (no directories, controls, bidi overrides;
    at most 200 characters with the extension kept; never empty); `content_type`
    is what the bytes are when they say otherwise than the declaration, and always
    the real type for HTML, SVG and XML, so downloads can force a safe type;
    `inline` means a Content-ID that the HTML can show (`cid:`).
    """

    filename: str
    content_type: str
    data: bytes
    size: int
    sha256: str
    inline: bool
    content_id: str


@dataclass(frozen=True)
class ParsedEmail:
    """An email as the helpdesk uses it.

    Strings are decoded and never hold control characters where one line is meant
    (subject, names, stored headers). `from_address` is set only for a single,
    unambiguous mailbox; `from_ambiguous` says to quarantine. `text` is the plain
    body (or the HTML's text), `visible_text` the same without the quoted reply,
    `html` the sanitised HTML. `defects` names the stdlib's defects and every
    limit hit, for the log.
    """

    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_address: str
    from_name: str
    from_ambiguous: bool
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    visible_text: str
    html: str
    attachments: tuple[ParsedAttachment, ...]
    skipped_attachments: tuple[str, ...]
    is_auto_reply: bool
    is_bounce: bool
    headers: dict[str, str]
    defects: tuple[str, ...]
    raw_sha256: str


# --- Limits -------------------------------------------------------------------------
# Each bounds the work one hostile message can cause; the numbers come from timing
# the worst inputs found on a 2-core machine (see tests/unit/test_email_parsing.py).

# The parser reads Content-Type while it splits parts: 4 KB holds any real boundary
# and keeps the stdlib's quote-counting parameter split cheap.
STRUCTURE_HEADER_CHARS = 4096
# The header registry is quadratic: 8 KB costs at most ~80 ms per header.
HEADER_PARSE_CHARS = 8192
# No real From header is longer; a longer one is treated as ambiguous.
FROM_HEADER_CHARS = 1000
HEADER_STORE_CHARS = 2000
# A long RFC 2231 file name comes in some 60 pieces; nothing real needs more.
MAX_PARAMETERS = 100
SUBJECT_CHARS = 250
MESSAGE_ID_CHARS = 250
FILENAME_CHARS = 200
MAX_RECIPIENTS = 500
MAX_REFERENCES = 50
MAX_SKIPPED_REASONS = 100
MAX_DEFECTS = 100
# The stdlib parser keeps one str per line; 50 MB of bare newlines took 15 s.
# A 50 MB base64 attachment is ~660k lines, so 1M lines passes any real message.
MAX_LINES = 1_000_000
FEED_CHUNK_BYTES = 256 * 1024
# html5ever's tree builder is quadratic in its stack of open elements and its list
# of formatting elements: 20k misnested <b> took 6 s, 100k nested <div> 60 s. With
# these caps the worst input measured takes under 1 s.
MAX_HTML_TAGS = 10_000
MAX_HTML_FORMATTING_TAGS = 1500

STORED_HEADERS = (
    "Message-ID",
    "In-Reply-To",
    "References",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Date",
    "Subject",
    "Auto-Submitted",
    "Precedence",
    "Return-Path",
    "Authentication-Results",
    "List-Id",
)


# --- The parser's policy --------------------------------------------------------------


class _CappedHeaderPolicy(EmailPolicy):
    """policy.default, except that header values stay plain, capped strings.

    The parser and Message methods (get_content_type, get_boundary, get_param,
    get_payload) work on plain strings as they do under compat32; the headers this
    module needs are parsed by `_header_object`, capped and guarded.
    """

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value
        if name.lower() in ("content-type", "content-disposition"):
            return _parameters_condensed(value)
        return _unfolded(value)[:STRUCTURE_HEADER_CHARS]

    def fold_binary(self, name, value):
        # Re-serialising a forwarded message keeps each header as received:
        # refolding would parse it again, uncapped.
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_POLICY = _CappedHeaderPolicy()
_REGISTRY = _POLICY.header_factory
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _unfolded(value: str) -> str:
    return _LINE_BREAKS.sub("", value)


# One parameter: unquoted text or a quoted string (an unclosed quote runs to the end).
_PARAMETER_PIECE = re.compile(r'(?:[^;"]|"(?:[^"\\]|\\.)*"?)+')


@functools.lru_cache(maxsize=256)
def _parameters_condensed(value: str) -> str:
    """A Content-Type or Content-Disposition value with at most MAX_PARAMETERS
    non-empty parameters.

    The stdlib's get_param re-splits the whole value on every call, in time that
    grows with the square of the parameters (25 ms for 3,000 empty ones, called
    several times per part); the parser calls it for every part it splits.
    Cached, because the parser asks for the same header several times.
    """
    value = _unfolded(value)[:STRUCTURE_HEADER_CHARS]
    if ";" not in value:
        return value
    # The type ends at the first ";", as in the stdlib's _splitparam.
    main, _, rest = value.partition(";")
    pieces = (piece.strip() for piece in _PARAMETER_PIECE.findall(rest))
    kept = [piece for piece in pieces if piece][:MAX_PARAMETERS]
    return "; ".join([main.strip(), *kept])


def _message_parsed(raw: bytes, defects: list[str]) -> Message:
    """Parse the MIME structure; fall back to the headers alone when it nests too
    deep for the stdlib's recursive parser."""
    raw = _within_line_budget(raw, defects)
    try:
        parser = BytesFeedParser(policy=_POLICY)
        view = memoryview(raw)
        # Feeding in chunks keeps one copy of the message as str in memory, not two:
        # 190 MB instead of 430 MB peak for a 50 MB message.
        for start in range(0, len(raw), FEED_CHUNK_BYTES):
            parser.feed(bytes(view[start : start + FEED_CHUNK_BYTES]))
        return parser.close()
    except RecursionError:
        defects.append("mime_nesting_too_deep_for_parser")
        return BytesHeaderParser(policy=_POLICY).parsebytes(raw)


def _within_line_budget(raw: bytes, defects: list[str]) -> bytes:
    """Cut the message after about MAX_LINES lines (any of CRLF, CR, LF)."""
    if _line_count(raw) <= MAX_LINES:
        return raw
    lines = 0
    for start in range(0, len(raw), FEED_CHUNK_BYTES):
        lines += _line_count(raw[start : start + FEED_CHUNK_BYTES])
        if lines > MAX_LINES:
            defects.append("message_cut_at_line_limit")
            return raw[:start]
    return raw


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


# --- Charsets -----------------------------------------------------------------------

# Names mail clients write that Python does not know, or knows as a narrower codec.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601_1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
    "unicode-1-1-utf-8": "utf-8",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-gbk": "gb18030",
    "x-mac-roman": "mac_roman",
    "x-user-defined": "",
    "unknown-8bit": "",
    "x-unknown": "",
    "default": "",
}
# Decoders that would turn text into something else than what was written.
_REFUSED_CODECS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined"}
)
# Wider codecs tried when the declared one fails: mail labelled EUC-KR is often
# CP949, Shift_JIS is often CP932, and so on.
_WIDER_CODECS = {
    "euc_kr": ("cp949",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "shift_jis": ("cp932",),
    "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext"),
    "big5": ("big5hkscs", "cp950"),
}
# Encodings whose bytes are all ASCII but do not mean ASCII.
_SEVEN_BIT_CODECS = ("iso2022", "utf-7", "hz", "utf-16", "utf-32")
# Declarations so often wrong that valid UTF-8 wins over them.
_LATIN_CODECS = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})


def _codec(charset: str | None) -> str | None:
    """The Python codec for a MIME charset name, None when unknown or refused."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[name] or None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info.name


def _text_decoded(data: bytes, charset: str | None) -> str:
    """Decode bytes under a declared charset that may be missing, unknown or wrong."""
    codec = _codec(charset)
    if codec is None and b"\x1b$" in data:
        # Undeclared ISO-2022-JP: 7-bit, told apart only by its escape sequences.
        codec = "iso2022_jp"
    if data.isascii() and not (codec or "").startswith(_SEVEN_BIT_CODECS):
        return data.decode("ascii")
    for candidate in _codecs_to_try(codec):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    if codec is not None and codec not in _LATIN_CODECS:
        return data.decode(codec, "replace")
    return _utf8_or_latin1(data)


def _codecs_to_try(codec: str | None) -> tuple[str, ...]:
    if codec is None:
        return ("utf-8",)
    if codec in _LATIN_CODECS:
        return ("utf-8", "cp1252")
    return (codec, *_WIDER_CODECS.get(codec, ()), "utf-8")


_ASCII_BYTES = bytes(range(0x80))


def _utf8_or_latin1(data: bytes) -> str:
    """Mostly-UTF-8 bytes (a cut multibyte character, a stray byte) stay UTF-8 with
    replacement characters; anything else is read as Latin-1, which never fails."""
    text = data.decode("utf-8", "replace")
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    if text.count("\ufffd") * 100 <= non_ascii:
        return text
    return data.decode("latin-1")


_SURROGATE_BYTES = re.compile("[\udc80-\udcff]+")
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def _surrogates_decoded(text: str, charset: str | None = None) -> str:
    """Decode bytes the stdlib left as surrogate escapes, run by run."""
    if not _LONE_SURROGATES.search(text):
        return text
    text = _SURROGATE_BYTES.sub(
        lambda run: _text_decoded(
            run.group().encode("utf-8", "surrogateescape"), charset
        ),
        text,
    )
    return _LONE_SURROGATES.sub("\ufffd", text)


def _raw_header_text(value: str, charset: str | None) -> str:
    """A raw header value (8-bit bytes as surrogate escapes) as text, unfolded."""
    value = _unfolded(value)
    if not _LONE_SURROGATES.search(value):
        return value
    # Whole-value decoding: a CP949 or Shift_JIS trail byte can be ASCII.
    return _LONE_SURROGATES.sub(
        "\ufffd",
        _text_decoded(value.encode("utf-8", "surrogateescape"), charset),
    )


# --- Headers ------------------------------------------------------------------------

_ENCODED_WORD_CHARSET = re.compile(
    r"=\?([^?*\s]{1,60})((?:\*[^?\s]{0,20})?)\?([bBqQ])\?"
)


def _encoded_word_charsets_mapped(value: str) -> str:
    """Point each RFC 2047 word at a codec Python has; unknown ones become
    unknown-8bit, decoded afterwards like raw 8-bit bytes."""

    def mapped(word: re.Match) -> str:
        codec = _codec(word.group(1))
        codec = _WIDER_CODECS.get(codec, (codec,))[0] if codec else "unknown-8bit"
        return f"=?{codec}{word.group(2)}?{word.group(3)}?"

    return _ENCODED_WORD_CHARSET.sub(mapped, value)


def _header_object(name: str, text: str, defects: list[str]):
    """The header registry's parse of `text`, or None when it raises."""
    try:
        header = _REGISTRY(name, text)
    except Exception as exc:  # IndexError, RecursionError and more
        defects.append(f"header_unparseable:{name}:{type(exc).__name__}")
        return None
    defects.extend(type(defect).__name__ for defect in header.defects)
    return header


def _header_decoded(
    name: str, raw: str, charset: str | None, defects: list[str]
) -> str:
    """A header as a human reads it: 8-bit bytes and RFC 2047 words decoded."""
    text = _encoded_word_charsets_mapped(
        _raw_header_text(raw, charset)[:HEADER_PARSE_CHARS]
    )
    header = _header_object(name, text, defects) if "=?" in text else None
    return _surrogates_decoded(str(header) if header is not None else text, charset)


_CONTROL_OR_BREAK = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _one_line(text: str) -> str:
    """Controls, line and paragraph separators and bidi overrides become spaces."""
    return " ".join(_CONTROL_OR_BREAK.sub(" ", text).split())


class _Headers:
    """Case-insensitive raw header values of one message part, in order."""

    def __init__(self, part: Message, charset: str | None, defects: list[str]):
        self.values: dict[str, list[str]] = {}
        for name, value in part.raw_items():
            self.values.setdefault(str(name).lower(), []).append(str(value))
        self.charset = charset
        self.defects = defects

    def raw(self, name: str) -> str:
        values = self.values.get(name.lower())
        return values[0] if values else ""

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def has(self, name: str) -> bool:
        return name.lower() in self.values

    def token(self, name: str) -> str:
        """The first word of a header, lower-cased: `auto-replied` of
        `Auto-Submitted: auto-replied; owner-email=...`."""
        value = _unfolded(self.raw(name))[:200].split(";")[0].strip().lower()
        return value.strip("\"'")

    def decoded(self, name: str) -> str:
        """The value as a person reads it (addresses too: no re-serialising)."""
        raw = self.raw(name)
        if not raw:
            return ""
        return _header_decoded("x-unstructured", raw, self.charset, self.defects)


def _headers_stored(headers: _Headers) -> dict[str, str]:
    """The selection kept with the message, decoded, one line, truncated."""
    stored = {}
    for name in STORED_HEADERS:
        if headers.has(name):
            stored[name] = _one_line(headers.decoded(name))[:HEADER_STORE_CHARS]
    return stored


def _subject(headers: _Headers) -> str:
    return _one_line(headers.decoded("Subject"))[:SUBJECT_CHARS]


def _date(value: str) -> datetime | None:
    """The Date header in UTC; a date without a zone is taken as UTC."""
    value = _unfolded(value)[:200].strip()
    if not value:
        return None
    try:
        moment = email_utils.parsedate_to_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- Message ids and ticket references ----------------------------------------------

_MESSAGE_ID = re.compile(rf"<([^<>\s]{{1,{MESSAGE_ID_CHARS - 2}}})>")
_MESSAGE_ID_BODY = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+")
_BARE_MESSAGE_ID = re.compile(rf"\s*([^<>\s]{{1,{MESSAGE_ID_CHARS - 2}}})\s*")


def message_ids_parse(value: str) -> tuple[str, ...]:
    """Return the "<...>" message ids in a header value, in order, without repeats.

    Each id is printable ASCII with an "@", at most 250 characters with its angle
    brackets; anything else in the value is ignored.
    """
    ids = []
    for match in _MESSAGE_ID.finditer(value or ""):
        if _MESSAGE_ID_BODY.fullmatch(match.group(1)):
            ids.append(f"<{match.group(1)}>")
    return tuple(dict.fromkeys(ids))


def _message_id(value: str) -> str:
    """The Message-ID in "<id@host>" form; a bare id@host gets its brackets."""
    value = _unfolded(value)[:1000]
    ids = message_ids_parse(value)
    if ids:
        return ids[0]
    bare = _BARE_MESSAGE_ID.fullmatch(value)
    if bare and _MESSAGE_ID_BODY.fullmatch(bare.group(1)):
        return f"<{bare.group(1)}>"
    return ""


def _references(value: str, defects: list[str]) -> tuple[str, ...]:
    """References, keeping the thread's root and the nearest ancestors when long."""
    ids = message_ids_parse(_unfolded(value))
    if len(ids) <= MAX_REFERENCES:
        return ids
    defects.append("references_truncated")
    return (ids[0], *ids[-(MAX_REFERENCES - 1) :])


_TICKET_REFERENCE = re.compile(r"\[\s*(?:ticket\s*)?#\s*([0-9]{1,18})\s*\]", re.I)


def ticket_reference_find(subject: str) -> int | None:
    """Return the ticket number of "[#1234]" or "[Ticket #1234]" in a subject.

    Only the bracketed form counts, so "order #1234" is not a reference.
    """
    match = _TICKET_REFERENCE.search(subject or "")
    if match is None:
        return None
    number = int(match.group(1))
    return number or None


# --- Addresses ----------------------------------------------------------------------
# CVE-2023-27043: Python 3.11.7's parsers can read one address where a person (or
# another parser) reads another. Only an unambiguous single mailbox gets through.

_DOT_ATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_DOMAIN_LABEL = re.compile(r"(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?")
_ADDRESS_LIKE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Harmless spellings the parser flags: "John Q. Public", and the RFC 2047 word in
# quotes that many clients write. Any address they could hide is still caught by
# _other_addresses, which reads the decoded display name.
_TOLERATED_ADDRESS_DEFECTS = frozenset(
    {
        "ObsoleteHeaderDefect",
        "encoded word inside quoted string",
        "missing trailing whitespace after encoded-word",
    }
)


def _address_defects(header_defects: list) -> set[str]:
    """The defects of an address header that make it ambiguous."""
    return {
        type(defect).__name__
        for defect in header_defects
        if type(defect).__name__ not in _TOLERATED_ADDRESS_DEFECTS
        and str(defect) not in _TOLERATED_ADDRESS_DEFECTS
    }


def _addr_spec(username: str, domain: str) -> str:
    """local@domain with the domain lower-cased, or "" unless both parts are plain:
    a dot-atom local part (no quoting, no "@") and a dotted host name."""
    if not _DOT_ATOM.fullmatch(username or "") or len(username) > 64:
        return ""
    domain = (domain or "").lower()
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2:
        return ""
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return ""
    return f"{username}@{domain}"


def _mailbox_strict(
    raw_values: list[str], charset: str | None
) -> tuple[str, str, bool]:
    """(address, display name, ambiguous) of a From or Reply-To header.

    Ambiguous when there are several headers or mailboxes, a group, a parse defect,
    a non-plain address, or an address-like text anywhere in the header (display
    name, comment, quoted local part, encoded word) that is not the address.
    """
    if not raw_values:
        return "", "", False
    if len(raw_values) > 1 or len(raw_values[0]) > FROM_HEADER_CHARS:
        return "", "", True
    text = _raw_header_text(raw_values[0], charset)
    header = _header_object("from", _encoded_word_charsets_mapped(text), [])
    if header is None:
        return "", "", True
    mailboxes = [address for group in header.groups for address in group.addresses]
    if len(mailboxes) != 1:
        return "", "", True
    mailbox = mailboxes[0]
    name = _name_cleaned(_surrogates_decoded(mailbox.display_name, charset))
    address = _addr_spec(mailbox.username, mailbox.domain)
    grouped = any(group.display_name is not None for group in header.groups)
    if not address or grouped or _address_defects(header.defects):
        return "", name, True
    if _other_addresses(address, text, name) or _legacy_disagrees(address, text):
        return "", name, True
    return address, name, False


def _other_addresses(address: str, text: str, name: str) -> bool:
    """Whether the header shows an address other than the one parsed, in its raw
    text, in its RFC 2047-decoded text or in the display name."""
    decoded = _header_decoded("x-address-text", text, None, [])
    seen = _ADDRESS_LIKE.findall(text) + _ADDRESS_LIKE.findall(decoded)
    seen += _ADDRESS_LIKE.findall(name)
    return any(found.lower() != address.lower() for found in seen)


def _legacy_disagrees(address: str, text: str) -> bool:
    """Whether email.utils, the parser most code uses, reads another address."""
    try:
        pairs = email_utils.getaddresses([text])
    except Exception:  # a parser that raises disagrees
        return True
    return len(pairs) != 1 or pairs[0][1].lower() != address.lower()


def _name_cleaned(name: str) -> str:
    return _one_line(name)[:200]


def _recipients(headers: _Headers, name: str, defects: list[str]) -> tuple[str, ...]:
    """The plain addresses of every To or Cc header; unusable entries are dropped."""
    addresses: list[str] = []
    for raw in headers.all(name):
        text = _raw_header_text(raw, headers.charset)
        if len(text) > HEADER_PARSE_CHARS:
            defects.append(f"recipients_truncated:{name}")
            # Cut at a comma so that the last address is whole or gone.
            comma = text.rfind(",", 0, HEADER_PARSE_CHARS)
            text = text[: comma if comma > 0 else HEADER_PARSE_CHARS]
        header = _header_object(
            name.lower(), _encoded_word_charsets_mapped(text), defects
        )
        if header is None:
            continue
        for mailbox in header.addresses:
            address = _addr_spec(mailbox.username, mailbox.domain)
            if address:
                addresses.append(address)
    unique = tuple(dict.fromkeys(addresses))
    if len(unique) > MAX_RECIPIENTS:
        defects.append(f"recipients_truncated:{name}")
    return unique[:MAX_RECIPIENTS]


# --- Filenames and content types ------------------------------------------------------

_UNSAFE_CHAR_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{digit}" for digit in range(1, 10)}
    | {f"lpt{digit}" for digit in range(1, 10)}
)
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/zip": ".zip",
    "text/html": ".html",
    "image/svg+xml": ".svg",
    "application/xml": ".xml",
    "text/plain": ".txt",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
}


def _filename_safe(name: str, content_type: str) -> str:
    """A display name that cannot climb directories, hide its extension behind bidi
    controls or break a header: basename only, no control or format characters,
    at most FILENAME_CHARS with its extension kept, never empty."""
    name = unicodedata.normalize("NFC", _surrogates_decoded(name))
    name = "".join(
        " " if char in "\t\r\n" else char
        for char in name
        if unicodedata.category(char) not in _UNSAFE_CHAR_CATEGORIES or char in "\t\r\n"
    )
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _WINDOWS_RESERVED_CHARS.sub("_", " ".join(name.split())).strip(" .")
    if not name:
        return "attachment" + _EXTENSIONS.get(content_type, "")
    if name.split(".", 1)[0].lower() in _WINDOWS_DEVICE_NAMES:
        name = "_" + name
    return _length_capped(name)


def _length_capped(name: str) -> str:
    if len(name) <= FILENAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        return name[:FILENAME_CHARS].rstrip(" .")
    return stem[: FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension


_MIME_TYPE = re.compile(
    r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
)
_MAGIC_NUMBERS = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
)
# WHATWG MIME sniffing's HTML patterns, each followed by a space or ">".
_HTML_PREFIXES = tuple(
    prefix.encode()
    for prefix in (
        "<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div",
        "<font", "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p",
        "<!--",
    )
)  # fmt: skip
_HTML_MARKERS = (b"<script", b"<html", b"<iframe", b"<body", b"<svg", b"<object")
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-shockwave-flash",
    }
)
_UNDECLARED_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "application/unknown",
        "binary/octet-stream",
        "application/x-download",
        "application/force-download",
        "application/download",
    }
)
_ZIP_CONTAINER_MARKERS = (
    "zip",
    "openxmlformats",
    "opendocument",
    "epub",
    "java-archive",
    "vnd.ms-",
    "vnd.apple",
)


def _is_active(content_type: str) -> bool:
    """Types a browser would run or render as a document: html, svg, xml, script."""
    return content_type in _ACTIVE_TYPES or content_type.endswith("+xml")


def _sniffed_type(data: bytes) -> str | None:
    """The type the first bytes show, when they show one."""
    head = data[:1024]
    if not head:
        return None
    for magic, content_type in _MAGIC_NUMBERS:
        if head.startswith(magic):
            return content_type
    if _BINARY_BYTES.search(head):
        return None
    lowered = head.lower()
    text = lowered.lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    if any(
        text.startswith(prefix + end)
        for prefix in _HTML_PREFIXES
        for end in (b" ", b">")
    ):
        return "text/html"
    if text.startswith(b"<") and b"<svg" in lowered:
        return "image/svg+xml"
    if any(marker in lowered for marker in _HTML_MARKERS):
        return "text/html"
    if text.startswith(b"<?xml"):
        return "application/xml"
    return "text/plain"


def _content_type_resolved(declared: str, data: bytes) -> str:
    """The declared type, unless the bytes say otherwise; anything that sniffs as
    a document type is always reported as one, so downloads can be forced."""
    sniffed = _sniffed_type(data)
    if sniffed is not None and _is_active(sniffed):
        return sniffed
    if _is_active(declared) or sniffed is None or sniffed == declared:
        return declared or "application/octet-stream"
    if declared in _UNDECLARED_TYPES:
        return sniffed
    if sniffed == "text/plain":
        binary_declared = declared.split("/")[0] in ("image", "audio", "video")
        return sniffed if binary_declared or declared == "application/pdf" else declared
    if sniffed == "application/zip" and any(
        marker in declared for marker in _ZIP_CONTAINER_MARKERS
    ):
        return declared
    return sniffed


# --- MIME parts ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    attachment_bytes: int
    attachments: int
    parts: int
    depth: int
    body_chars: int


class _Collected:
    """What the walk over the parts gathers."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.skipped: list[str] = []
        self.body_chars = 0
        self.saw_delivery_status = False


def _parts_walked(
    message: Message, limits: _Limits, charset: str | None, defects: list[str]
) -> _Collected:
    """Walk the MIME tree iteratively (no recursion on hostile nesting), up to the
    part and depth limits, sorting each leaf into text, HTML or attachment."""
    collected = _Collected()
    stack = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > limits.parts:
            defects.append("max_parts_exceeded")
            break
        try:
            children = _part_taken(part, depth, limits, charset, collected, defects)
        except Exception as exc:  # one broken part must not lose the rest
            defects.append(f"part_unreadable:{type(exc).__name__}")
            children = []
        # After taking the part: decoding its body adds the base64 defects.
        defects.extend(type(defect).__name__ for defect in getattr(part, "defects", ()))
        stack.extend((child, depth + 1) for child in reversed(children))
    return collected


def _part_taken(
    part: Message,
    depth: int,
    limits: _Limits,
    charset: str | None,
    collected: _Collected,
    defects: list[str],
) -> list[Message]:
    """Sort one part; return the children still to walk."""
    content_type = _structural_type(part)
    if content_type == "message/delivery-status":
        collected.saw_delivery_status = True
    # get_payload() without decode=True would decode a leaf under its declared
    # charset and raise on a hostile one; a multipart's payload is just its list.
    if part.is_multipart() and not content_type.startswith("message/"):
        if depth >= limits.depth:
            defects.append("max_depth_exceeded")
            return []
        return [child for child in part.get_payload() if isinstance(child, Message)]
    disposition, filename = _disposition(part, charset, defects)
    is_body = disposition != "attachment" and not filename
    if is_body and content_type in ("text/plain", "text/html"):
        _body_taken(part, content_type, limits, collected, defects)
    elif is_body and content_type.startswith("multipart/"):
        # A multipart part without a boundary: its lines are all there is to read.
        _body_taken(part, "text/plain", limits, collected, defects)
    else:
        _attachment_taken(part, content_type, filename, limits, collected, defects)
    return []


def _structural_type(part: Message) -> str:
    """The part's type as the parser read it; an unreadable one is the container's
    default (text/plain, RFC 2045 section 5.2), as the stdlib only checks for a
    single "/"."""
    try:
        content_type = part.get_content_type().lower()
        if _MIME_TYPE.fullmatch(content_type):
            return content_type
        return part.get_default_type()
    except Exception:  # a header the stdlib cannot split
        return "application/octet-stream"


def _declared_type(part: Message) -> str:
    raw = str(part.get("content-type", "") or "")
    declared = raw.split(";", 1)[0].strip().lower()
    return declared if _MIME_TYPE.fullmatch(declared) else ""


def _disposition(
    part: Message, charset: str | None, defects: list[str]
) -> tuple[str, str]:
    """(inline | attachment | "", filename as sent) of a part."""
    raw = str(part.get("content-disposition", "") or "")
    disposition = raw.split(";", 1)[0].strip().lower()
    filename = _parameter(part, "filename", "content-disposition", charset, defects)
    if not filename:
        filename = _parameter(part, "name", "content-type", charset, defects)
    return disposition, filename


def _parameter(
    part: Message, name: str, header: str, charset: str | None, defects: list[str]
) -> str:
    """A MIME parameter, decoded from RFC 2231 or RFC 2047 and raw 8-bit forms."""
    try:
        value = part.get_param(name, header=header)
    except Exception:  # malformed parameters
        defects.append(f"parameter_unreadable:{name}")
        return ""
    if value is None:
        return ""
    if isinstance(value, tuple):
        # RFC 2231: the stdlib leaves the octets as Latin-1 characters.
        declared, _language, text = value
        return _text_decoded(text.encode("latin-1", "replace"), declared or charset)
    text = _raw_header_text(email_utils.unquote(str(value)), charset)
    if "=?" in text:
        text = _header_decoded("x-filename", text, charset, defects)
    return text


def _payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part, or the serialised message of a message/*."""
    if part.is_multipart():
        items = [item for item in part.get_payload() if isinstance(item, Message)]
        return b"\n".join(_message_bytes(item) for item in items)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _message_bytes(message: Message) -> bytes:
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(message)
    return buffer.getvalue()


def _charset_of(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # RFC 2231 charset parameters in odd shapes
        return None


def _body_taken(
    part: Message,
    content_type: str,
    limits: _Limits,
    collected: _Collected,
    defects: list[str],
) -> None:
    """Decode a text or HTML body part within what is left of the body budget."""
    room = limits.body_chars - collected.body_chars
    if room <= 0:
        defects.append("body_truncated")
        return
    data = _payload_bytes(part)
    charset = _charset_of(part)
    if content_type == "text/html" and charset is None:
        charset = _html_meta_charset(data)
    # No charset takes more than four bytes a character: decoding more than that
    # is wasted work on a 50 MB body.
    text = _body_text(_text_decoded(data[: room * 4], charset))
    if len(data) > room * 4 or len(text) > room:
        defects.append("body_truncated")
        text = text[:room]
    collected.body_chars += len(text)
    (collected.htmls if content_type == "text/html" else collected.texts).append(text)


_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.-]{1,40})", re.I
)


def _html_meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


_BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _body_text(text: str) -> str:
    """Line breaks as LF, no NUL or other controls (tabs and newlines stay)."""
    return _BODY_CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _attachment_taken(
    part: Message,
    content_type: str,
    filename: str,
    limits: _Limits,
    collected: _Collected,
    defects: list[str],
) -> None:
    """Keep a part as an attachment, or say why it was skipped."""
    try:
        data = _payload_bytes(part)
    except RecursionError:
        defects.append("attachment_nesting_too_deep")
        _skipped(collected, f"{filename or content_type}: nested too deep to read")
        return
    # A missing or unreadable type is left to sniffing, not taken as text/plain.
    declared = (
        content_type if content_type.startswith("message/") else _declared_type(part)
    )
    resolved = _content_type_resolved(declared, data)
    name = _filename_safe(filename, resolved)
    if not filename and content_type.startswith("message/"):
        name = (
            "message.eml"
            if content_type == "message/rfc822"
            else (content_type.split("/", 1)[1] + ".txt")
        )
    if len(collected.attachments) >= limits.attachments:
        defects.append("max_attachments_exceeded")
        _skipped(collected, f"{name}: over the {limits.attachments}-attachment limit")
        return
    if len(data) > limits.attachment_bytes:
        defects.append("attachment_over_size_limit")
        _skipped(
            collected,
            f"{name}: {len(data)} bytes is over the "
            f"{limits.attachment_bytes}-byte limit",
        )
        return
    content_id = _content_id(str(part.get("content-id", "") or ""))
    disposition = str(part.get("content-disposition", "") or "").split(";")[0]
    collected.attachments.append(
        ParsedAttachment(
            filename=name,
            content_type=resolved,
            data=data,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            # Related images often come without a disposition; a Content-ID is
            # what makes them part of the HTML.
            inline=bool(content_id) and disposition.strip().lower() in ("inline", ""),
            content_id=content_id,
        )
    )


def _skipped(collected: _Collected, reason: str) -> None:
    if len(collected.skipped) < MAX_SKIPPED_REASONS:
        collected.skipped.append(_one_line(reason))


_CONTENT_ID = re.compile(rf"[\x21-\x3b\x3d\x3f-\x7e]{{1,{MESSAGE_ID_CHARS}}}")


def _content_id(value: str) -> str:
    value = _unfolded(value).strip().removeprefix("<").removesuffix(">").strip()
    return value if _CONTENT_ID.fullmatch(value) else ""


# --- HTML ---------------------------------------------------------------------------

_SAFE_TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br", "caption",
        "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "div",
        "dl", "dt", "em", "figcaption", "figure", "font", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
        "q", "s", "samp", "small", "span", "strike", "strong", "sub", "summary",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
        "var", "wbr", "article", "aside", "footer", "header", "main", "nav",
        "section",
    }
)  # fmt: skip
_CELL_ATTRIBUTES = {"colspan", "rowspan", "align", "valign", "width"}
_SAFE_ATTRIBUTES = {
    "*": {"dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES | {"scope"},
    "table": {"width", "align", "border", "cellpadding", "cellspacing"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "font": {"color", "face", "size"},
    "p": {"align"},
    "div": {"align"},
}
# Dropped with everything inside: code, styles, embedded documents, form controls.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "svg", "math", "iframe", "object", "embed",
        "applet", "noscript", "noembed", "noframes", "frameset", "frame", "xmp",
        "textarea", "select", "title", "head", "canvas", "audio", "video",
    }
)  # fmt: skip
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"https", "cid"})
_URL_IGNORED_CHARS = re.compile(r"[\x00-\x20\x7f]")
_URL_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")


def _url_scheme(url: str) -> str:
    """The scheme a browser would see: it drops ASCII whitespace and controls."""
    match = _URL_SCHEME.match(_URL_IGNORED_CHARS.sub("", url).lower())
    return match.group(1) if match else ""


def _attribute_kept(element: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return value if _url_scheme(value) in _LINK_SCHEMES else None
    if attribute == "src":
        return value if _url_scheme(value) in _IMAGE_SCHEMES else None
    return value


_SANITISER = nh3.Cleaner(
    tags=set(_SAFE_TAGS),
    clean_content_tags=set(_DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in _SAFE_ATTRIBUTES.items()},
    attribute_filter=_attribute_kept,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    url_schemes=set(_LINK_SCHEMES | _IMAGE_SCHEMES),
    url_relative="deny",
)
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>?|<[!?][^>]*>?")
# The elements the HTML tree builder keeps in its list of active formatting elements.
_FORMATTING_TAGS = frozenset(
    {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike"}
    | {"strong", "tt", "u"}
)


def _tags_capped(html: str) -> str:
    """Bound html5ever's quadratic cases before nh3 sees the document.

    Past MAX_HTML_TAGS tags the rest of the document is text; past
    MAX_HTML_FORMATTING_TAGS formatting start tags (b, a, font ...), further ones
    are dropped. Every token that can open an element is counted (an upper bound).
    """
    tags = formatting = 0

    def kept(token: re.Match) -> str:
        nonlocal tags, formatting
        tags += 1
        if tags > MAX_HTML_TAGS:
            return " "
        if not token.group(1) and (token.group(2) or "").lower() in _FORMATTING_TAGS:
            formatting += 1
            if formatting > MAX_HTML_FORMATTING_TAGS:
                return ""
        return token.group()

    return _TAG_TOKEN.sub(kept, html)


def html_sanitise(html: str) -> str:
    """Return the HTML with only safe formatting left (nh3 allowlist).

    Links keep http, https and mailto URLs and get rel="noopener noreferrer
    nofollow"; images keep https and cid: sources; no style, script, iframe, object,
    embed, svg, math or form, no on* attributes, no relative, data: or javascript:
    URLs. Past MAX_HTML_TAGS tags the rest is kept as text, and formatting start
    tags past MAX_HTML_FORMATTING_TAGS are dropped (see _tags_capped).
    """
    if not html:
        return ""
    # nh3 takes only valid Unicode; a lone surrogate would make it raise.
    return _SANITISER.clean(_tags_capped(_LONE_SURROGATES.sub("\ufffd", html)))


_BLOCK_TAGS = frozenset(
    {
        "address", "blockquote", "caption", "center", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
        "ol", "p", "pre", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
        "article", "aside", "footer", "header", "main", "nav", "section",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_WHITESPACE_RUNS = re.compile(r"\s+")


class _TextCollector(HTMLParser):
    """Text of well-formed HTML (nh3's output): blocks and <br> as line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.preformatted = 0

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.chunks.append("\n")
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")
            self.preformatted += tag == "pre"
        elif tag in _CELL_TAGS:
            self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
            self.preformatted -= tag == "pre" and self.preformatted > 0

    def handle_data(self, data):
        data = data.replace("\xa0", " ")
        self.chunks.append(
            data if self.preformatted else _WHITESPACE_RUNS.sub(" ", data)
        )


_SPACE_RUNS = re.compile(r"[ \t\f\v]+")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Return the text of an HTML body: tags stripped, block elements and <br> as
    line breaks, entities decoded, scripts and styles dropped with their content."""
    if not html:
        return ""
    return _sanitised_html_text(html_sanitise(html))


def _sanitised_html_text(html: str) -> str:
    """The text of html_sanitise's output, which is well-formed: html.parser is
    linear on it (it is not on every hostile input)."""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except (AssertionError, ValueError):
        # html.parser is not meant to fail on nh3's output; keep what was read.
        pass
    lines = (
        _SPACE_RUNS.sub(" ", line).strip()
        for line in "".join(collector.chunks).split("\n")
    )
    return _BLANK_LINE_RUNS.sub("\n\n", "\n".join(lines)).strip()


# --- Quoted replies -----------------------------------------------------------------

_REPLY_HEADERS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\s*On\s.{1,400}\swrote\s?:\s*",  # Gmail, Apple Mail, Thunderbird
        r"\s*-{2,}\s*Original Message\s*-{2,}\s*",  # Outlook
        r"\s*-{2,}\s*원본 메시지\s*-{2,}\s*",  # Outlook, Korean
        r".{1,400}님이 작성\s?:\s*",  # Gmail, Korean
        r"\s*20\d\d\.\s*\d{1,2}\.\s*\d{1,2}\..{0,400}작성\s?:\s*",  # Apple, Korean
        r"\s*20\d\d년\s*\d{1,2}월\s*\d{1,2}일.{0,400}작성\s?:\s*",  # Naver, Daum
        r"\s*Le\s.{1,400}\sa\sécrit\s?:\s*",  # French
        r"\s*Am\s.{1,400}\sschrieb\s.{0,400}:\s*",  # German
        r"\s*El\s.{1,400}\sescribió\s?:\s*",  # Spanish
        r"\s*20\d\d年\d{1,2}月\d{1,2}日.{0,400}[:\uff1a]\s*",  # Gmail, Japanese
    )
)
_SENDER_LINE = re.compile(r"\s*\*?(From|De|Von|Van|Da|보낸 사람|差出人)\s?:\*?\s", re.I)
_SENT_LINE = re.compile(
    r"\s*\*?(Sent|Date|Envoyé|Gesendet|Datum|Enviado|보낸 날짜|날짜|送信日時)\s?:\*?\s",
    re.IGNORECASE,
)
_SEPARATOR_LINE = re.compile(r"\s*_{10,}\s*")
_LONGEST_HEADER_LINE = 1000
_MAY_OPEN_REPLY = re.compile(r"[:\uff1a]|-{2}|^\s*(On|Le|Am|El)\s")


def quoted_reply_trim(text: str) -> str:
    """Return the new part of a reply: the text above the first reply header
    ("On <date>, <name> wrote:", "-----Original Message-----", an Outlook
    "From: ... Sent: ..." block, "... 님이 작성:", "Le ... a écrit :" and the like),
    without a trailing block of ">" lines.

    A text with no quote comes back stripped; one that is nothing but a quote comes
    back stripped too, so the result is never empty for a non-empty input.
    """
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = lines[: _reply_header_index(lines)]
    kept = kept[: _trailing_quote_start(kept)]
    trimmed = "\n".join(kept).strip()
    return trimmed or (text or "").strip()


def _reply_header_index(lines: list[str]) -> int:
    """The index of the first line that opens a quoted reply, or len(lines)."""
    for index, line in enumerate(lines):
        # Every reply header has a colon or a dash line (and a cheap test first
        # keeps a million-line body fast).
        if len(line) > _LONGEST_HEADER_LINE or not _MAY_OPEN_REPLY.search(line):
            continue
        # Gmail wraps a long "On ... wrote:" line in two.
        following = lines[index + 1] if index + 1 < len(lines) else ""
        candidates = (line, f"{line} {following}"[:_LONGEST_HEADER_LINE])
        if any(
            pattern.fullmatch(candidate)
            for pattern in _REPLY_HEADERS
            for candidate in candidates
        ):
            return index
        if _SENDER_LINE.match(line) and _sent_line_follows(lines, index):
            above = index - 1
            if above >= 0 and _SEPARATOR_LINE.fullmatch(lines[above]):
                return above
            return index
    return len(lines)


def _sent_line_follows(lines: list[str], index: int) -> bool:
    return any(_SENT_LINE.match(line) for line in lines[index + 1 : index + 5])


def _trailing_quote_start(lines: list[str]) -> int:
    """Where the trailing run of ">" and blank lines starts, if it quotes anything."""
    start = len(lines)
    quoted = False
    while start > 0:
        line = lines[start - 1].strip()
        if line.startswith(">"):
            quoted = True
        elif line:
            break
        start -= 1
    return start if quoted else len(lines)


# --- Automatic mail -----------------------------------------------------------------

_AUTO_REPLY_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoreply-From",
    "X-Mail-Autoreply",
)
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_SUPPRESSED_AUTO_RESPONSES = frozenset({"all", "oof"})
_BOUNCE_SENDER = re.compile(r"(^|[<\s\"])(mailer-daemon|postmaster)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status|delivery fail|returned mail|mail delivery"
    r"|failure notice",
    re.I,
)


def _is_auto_reply(headers: _Headers, report_type: str) -> bool:
    """Whether a machine wrote this mail (RFC 3834 and the de-facto headers), so
    that it must never be answered automatically."""
    submitted = headers.token("Auto-Submitted")
    if submitted and submitted != "no":
        return True
    if any(
        headers.has(name) and headers.token(name) not in ("no", "false", "0")
        for name in _AUTO_REPLY_HEADERS
    ):
        return True
    if headers.token("Precedence") in _AUTOMATIC_PRECEDENCE:
        return True
    suppress = _unfolded(headers.raw("X-Auto-Response-Suppress"))[:200].lower()
    if {token.strip() for token in suppress.split(",")} & _SUPPRESSED_AUTO_RESPONSES:
        return True
    return report_type == "disposition-notification"


def _is_bounce(
    headers: _Headers,
    content_type: str,
    report_type: str,
    saw_status: bool,
    subject: str,
) -> bool:
    """Whether this is a delivery failure report (RFC 3464 or a mailer daemon's)."""
    if content_type == "multipart/report" and report_type == "delivery-status":
        return True
    if saw_status or headers.has("X-Failed-Recipients"):
        return True
    if not _BOUNCE_SENDER.search(_unfolded(headers.raw("From"))[:FROM_HEADER_CHARS]):
        return False
    return_path = _unfolded(headers.raw("Return-Path")).strip()
    return return_path in ("", "<>") or bool(_BOUNCE_SUBJECT.search(subject))


def _report_type(message: Message) -> str:
    try:
        value = message.get_param("report-type")
    except Exception:  # a header the stdlib cannot split
        return ""
    return str(value).strip().lower() if isinstance(value, str) else ""


# --- Parsing ------------------------------------------------------------------------


def email_parse(
    raw: bytes,
    *,
    max_attachment_bytes: int = 25 * 1024 * 1024,
    max_attachments: int = 50,
    max_parts: int = 500,
    max_depth: int = 20,
    max_body_chars: int = 1_000_000,
) -> ParsedEmail:
    """Parse raw RFC 822 bytes into a ParsedEmail, whatever they hold.

    Limits that are hit are reported in `defects` (and, for attachments, in
    `skipped_attachments`), never raised.

    Raises EmailUnparseable when the bytes are not an email at all (empty, no
    header), and for nothing else.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailUnparseable(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise EmailUnparseable("the message is empty")
    limits = _Limits(
        attachment_bytes=max_attachment_bytes,
        attachments=max_attachments,
        parts=max_parts,
        depth=max_depth,
        body_chars=max_body_chars,
    )
    try:
        return _email_parsed(raw, limits)
    except EmailUnparseable:
        raise
    except Exception as exc:  # the contract: one exception type
        raise EmailUnparseable(f"internal parser error: {type(exc).__name__}") from exc


def _email_parsed(raw: bytes, limits: _Limits) -> ParsedEmail:
    defects: list[str] = []
    message = _message_parsed(raw, defects)
    if not message.keys():
        raise EmailUnparseable("no header fields: this is not an email")
    charset = _codec(_charset_of(message))
    headers = _Headers(message, charset, defects)
    collected = _parts_walked(message, limits, charset, defects)
    subject = _subject(headers)
    from_address, from_name, from_ambiguous = _mailbox_strict(
        headers.all("From"), charset
    )
    reply_to, _, _ = _mailbox_strict(headers.all("Reply-To"), charset)
    html = html_sanitise("\n".join(collected.htmls))
    text = "\n\n".join(text.strip() for text in collected.texts if text.strip())
    if not text and html:
        text = _sanitised_html_text(html)
    content_type = _structural_type(message)
    report_type = _report_type(message)
    return ParsedEmail(
        message_id=_message_id(headers.raw("Message-ID")),
        in_reply_to=message_ids_parse(_unfolded(headers.raw("In-Reply-To")))[
            :MAX_REFERENCES
        ],
        references=_references(headers.raw("References"), defects),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        from_ambiguous=from_ambiguous,
        reply_to=reply_to,
        to=_recipients(headers, "To", defects),
        cc=_recipients(headers, "Cc", defects),
        date=_date(headers.raw("Date")),
        text=text,
        visible_text=quoted_reply_trim(text) if text else "",
        html=html,
        attachments=tuple(collected.attachments),
        skipped_attachments=tuple(collected.skipped),
        is_auto_reply=_is_auto_reply(headers, report_type),
        is_bounce=_is_bounce(
            headers, content_type, report_type, collected.saw_delivery_status, subject
        ),
        headers=_headers_stored(headers),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )
