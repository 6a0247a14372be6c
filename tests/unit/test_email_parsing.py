"""The pure email parser: raw bytes in, a ParsedEmail out, whatever the bytes hold.

The corpus in tests/emails (README.md there lists every file and what it should
give) covers real-world shapes; the pathological inputs are generated here, in
memory, and each must finish well under the 10 s of reliability row T25. No
database: everything here is pure Python.
"""

import hashlib
import random
import re
import time
import unicodedata
from datetime import UTC, datetime
from email import utils as email_utils
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets import rules
from tickets.rules import (
    EmailUnparseable,
    ParsedEmail,
    email_parse,
    html_sanitise,
    html_to_text,
    message_ids_parse,
    quoted_reply_trim,
    ticket_reference_find,
)

CORPUS = Path(__file__).resolve().parents[1] / "emails"
CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))
PDF_SIZE = 65  # the PDF every corpus attachment mail carries (build_corpus.py)

HEAD = (
    b"From: Ann Lee <ann@example.com>\r\n"
    b"To: support@pod.example\r\n"
    b"Subject: Help\r\n"
    b"Message-ID: <p1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
)


def corpus(name: str, **limits) -> ParsedEmail:
    return email_parse((CORPUS / name).read_bytes(), **limits)


def mail(*, sender: str = "Ann Lee <ann@example.com>", body: str = "Hello\n") -> bytes:
    """A small message with the given From value (None-free, CRLF)."""
    head = f"From: {sender}\r\nTo: support@pod.example\r\nSubject: Hi\r\n"
    return (head + "Message-ID: <x1@example.com>\r\n\r\n" + body).encode("utf-8")


def summary(parsed: ParsedEmail) -> list[tuple]:
    return [
        (item.filename, item.content_type, item.size, item.inline, item.content_id)
        for item in parsed.attachments
    ]


def parse_timed(raw: bytes, **limits) -> tuple[ParsedEmail, float]:
    started = time.perf_counter()
    parsed = email_parse(raw, **limits)
    return parsed, time.perf_counter() - started


# --- Checks shared by the corpus, XSS and fuzz tests ----------------------------------

FORBIDDEN_TAGS = {
    "script", "style", "iframe", "object", "embed", "svg", "math", "form", "input",
    "button", "textarea", "select", "meta", "base", "link", "frame", "frameset",
    "applet", "template", "noscript", "title", "video", "audio", "source",
    "marquee",
}  # fmt: skip
FORBIDDEN_ATTRIBUTES = {
    "style", "srcdoc", "formaction", "action", "background", "xlink:href", "class",
    "id", "name",
}  # fmt: skip
ALLOWED_SCHEMES = {"href": {"http", "https", "mailto"}, "src": {"https", "cid"}}
MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


class _TagAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))


def url_scheme(url: str) -> str:
    """The scheme as a browser reads it: it ignores ASCII whitespace and controls."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    match = re.match(r"([a-z][a-z0-9+.-]*):", cleaned)
    return match.group(1) if match else ""


def html_problems(html: str) -> list[str]:
    """Everything in sanitised HTML that the allowlist promises is not there."""
    audit = _TagAudit()
    audit.feed(html)
    audit.close()
    problems = ["<script in output"] if "<script" in html.lower() else []
    for tag, attrs in audit.tags:
        if tag in FORBIDDEN_TAGS:
            problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on") or name in FORBIDDEN_ATTRIBUTES:
                problems.append(f"attribute {name} on {tag}")
            allowed = ALLOWED_SCHEMES.get(name)
            if allowed is not None and url_scheme(value or "") not in allowed:
                problems.append(f"{name}={value!r} on {tag}")
        if tag == "a" and "nofollow" not in (dict(attrs).get("rel") or ""):
            problems.append("link without rel nofollow")
    return problems


def assert_safe_filename(name: str) -> None:
    assert name
    assert len(name) <= 200
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith(".")
    assert not any(
        unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for char in name
    )


def assert_invariants(parsed: ParsedEmail, raw: bytes) -> None:
    """What every ParsedEmail promises, whatever the input was."""
    assert len(parsed.subject) <= 250
    assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", parsed.subject)
    assert not re.search(r"[\x00-\x1f\x7f]", parsed.from_name)
    assert parsed.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert parsed.message_id == "" or re.fullmatch(
        r"<[^<>\s]+@[^<>\s]+>", parsed.message_id
    )
    assert all(len(item) <= 250 for item in parsed.in_reply_to + parsed.references)
    assert parsed.date is None or parsed.date.tzinfo == UTC
    assert not (parsed.from_ambiguous and parsed.from_address)
    for attachment in parsed.attachments:
        assert_safe_filename(attachment.filename)
        assert attachment.size == len(attachment.data)
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
        assert MIME_TYPE.fullmatch(attachment.content_type)
    assert html_problems(parsed.html) == []
    assert all(len(value) <= 2000 for value in parsed.headers.values())
    assert not any(defect.startswith("part_unreadable") for defect in parsed.defects)


# --- email_parse: the corpus ----------------------------------------------------------

ANN = {"from_address": "ann@example.com", "from_name": "Ann Lee"}
NOT_AUTOMATIC = {"is_auto_reply": False, "is_bounce": False}
REPLY = {
    "in_reply_to": ("<t1234.m1.0123456789abcdef0123@pod.example>",),
    "references": (
        "<m1.ann@example.com>",
        "<t1234.m1.0123456789abcdef0123@pod.example>",
    ),
    **ANN,
}
EXPECTED = {
    "01_text_only_lf.eml": {
        **ANN, **NOT_AUTOMATIC,
        "message_id": "<m1.ann@example.com>",
        "subject": "Where is my order?",
        "to": ("support@pod.example",),
        "date": datetime(2024, 1, 2, 1, 0, tzinfo=UTC),
        "text": "Hello,\n\nmy order 1234 has not arrived yet.\n\nAnn",
        "html": "",
        "attachments": [],
    },
    "02_text_only_crlf.eml": {
        "subject": "CRLF line endings",
        "text": "Hello over CRLF.\nSecond line.",
    },
    "03_korean_euckr_base64.eml": {
        "subject": "배송이 늦어요",
        "from_address": "hong@example.kr",
        "from_name": "홍길동",
        "text": "안녕하세요. 주문한 상품이 아직 도착하지 않았습니다.",
    },
    "04_korean_utf8_qp.eml": {
        "subject": "환불 요청드립니다",
        "text": "환불을 요청합니다. 감사합니다.",
    },
    "05_korean_utf8_base64_alternative.eml": {
        "subject": "로그인이 안 돼요",
        "text": "로그인 버튼을 눌러도 반응이 없습니다.",
        "html": "<p>로그인 버튼을 눌러도 <b>반응이 없습니다</b>.</p>",
    },
    "06_korean_ks_c_5601_outlook.eml": {
        "subject": "똠방각하 문의",
        "from_address": "ddom@example.kr",
        "from_name": "김똠",
        "text": "똠방각하 제품 문의드립니다.",
    },
    "07_japanese_iso2022jp.eml": {
        "subject": "お問い合わせ",
        "from_name": "山田太郎",
        "text": "ご注文の件でご連絡いたします。",
    },
    "08_unknown_charset.eml": {
        "subject": "문자셋 테스트",
        "text": "알 수 없는 문자셋이지만 UTF-8입니다.",
    },
    "09_wrong_declared_charset.eml": {"text": "Café crème — 감사합니다"},
    "10_raw_utf8_headers.eml": {
        "subject": "주문 취소 문의",
        "from_address": "kim@example.kr",
        "from_name": "김철수",
    },
    "11_html_only.eml": {
        "text": "Invoice 42\n\nAmount: €20 & tax\n\nFirst item\n\nSecond\n\n"
        "Line\nbreak",
        "html": "<h1>Invoice&nbsp;42</h1><p>Amount: €20 &amp; tax</p><ul><li>First"
        " item</li><li>Second</li></ul><p>Line<br>break</p>\n",
    },
    "12_nested_related_inline.eml": {
        "text": "Plain version with a logo.",
        "html": '<p>HTML version <img src="cid:logo@pod.example" alt="logo"></p>\n',
        "attachments": [
            ("logo.png", "image/png", 69, True, "logo@pod.example"),
            ("invoice.pdf", "application/pdf", PDF_SIZE, False, ""),
        ],
    },
    "13_attachments_sniffed.eml": {
        "attachments": [
            ("photo.jpg", "image/jpeg", 22, False, ""),
            ("page.html", "text/html", 52, False, ""),
            ("image.png", "image/svg+xml", 112, False, ""),
            ("notes.gif", "text/plain", 31, False, ""),
            ("archive.zip", "application/zip", 52, False, ""),
            (
                "report.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                52, False, "",
            ),
            ("fake.pdf", "text/html", 53, False, ""),
        ],
    },
    "14_attachment_path_traversal.eml": {
        "attachments": [
            ("passwd", "text/plain", 32, False, ""),
            ("win.ini", "text/plain", 8, False, ""),
        ],
    },
    "15_attachment_rfc2231.eml": {
        "attachments": [
            ("견적서.pdf", "application/pdf", PDF_SIZE, False, ""),
            ("요청서.txt", "text/plain", 8, False, ""),
            ("계약서.pdf", "application/pdf", PDF_SIZE, False, ""),
            ("영수증.pdf", "application/pdf", PDF_SIZE, False, ""),
        ],
    },
    "16_attachment_control_chars.eml": {
        "attachments": [
            ("invoice.pdf", "application/pdf", PDF_SIZE, False, ""),
            ("tab and newline.txt", "text/plain", 5, False, ""),
        ],
    },
    "17_attachment_long_name.eml": {
        "attachments": [("a" * 196 + ".pdf", "application/pdf", PDF_SIZE, False, "")],
    },
    "18_attachment_rtl_override.eml": {
        "attachments": [("invoicefdp.exe", "application/x-msdownload", 8, False, "")],
    },
    "19_attachment_without_name.eml": {
        "attachments": [("attachment.pdf", "application/pdf", PDF_SIZE, False, "")],
    },
    "20_html_xss.eml": {
        "subject": "<script>alert(1)</script> Order",
        "from_address": "xss@example.com",
        "from_name": "<img src=x onerror=alert(1)>",
        "from_ambiguous": False,
        "text": "Please see the HTML version.",
    },
    "21_bounce_delivery_status.eml": {
        "is_bounce": True,
        "is_auto_reply": True,
        "from_address": "MAILER-DAEMON@mx.example.net",
        "text": "Your message could not be delivered to nobody@customer.example.",
    },
    "22_bounce_mailer_daemon_plain.eml": {"is_bounce": True, "is_auto_reply": False},
    "23_auto_submitted_auto_replied.eml": {"is_auto_reply": True, "is_bounce": False},
    "24_x_autoreply.eml": {"is_auto_reply": True},
    "25_precedence_bulk.eml": {"is_auto_reply": True},
    "26_mailing_list.eml": {"is_auto_reply": True},
    "27_out_of_office_exchange.eml": {
        "is_auto_reply": True,
        "subject": "Automatic reply: Re: [#1234] Late delivery",
    },
    "28_out_of_office_precedence_auto_reply.eml": {
        "is_auto_reply": True,
        "subject": "Out of Office: 휴가 중입니다",
    },
    "29_auto_submitted_no.eml": {**NOT_AUTOMATIC},
    "30_out_of_office_subject_only.eml": {**NOT_AUTOMATIC},
    "31_missing_message_id.eml": {"message_id": "", **ANN},
    "32_missing_date.eml": {"date": None, "message_id": "<m32@example.com>"},
    "33_garbage_date_and_message_id.eml": {"date": None, "message_id": ""},
    "34_missing_from.eml": {
        "from_address": "",
        "from_name": "",
        "from_ambiguous": False,
    },
    "35_reply_gmail.eml": {**REPLY, "visible_text": "Thanks, that works now."},
    "36_reply_outlook.eml": {
        **REPLY,
        "subject": "RE: [#1234] Late delivery",
        "visible_text": "It still has not arrived.",
    },
    "37_reply_original_message.eml": {**REPLY, "visible_text": "See below."},
    "38_reply_apple.eml": {**REPLY, "visible_text": "Great, thank you!"},
    "39_reply_korean_gmail.eml": {**REPLY, "visible_text": "확인했습니다. 감사합니다."},
    "40_reply_korean_apple.eml": {**REPLY, "visible_text": "네, 좋습니다."},
    "41_reply_french.eml": {**REPLY, "visible_text": "Merci beaucoup."},
    "42_from_quoted_local_part.eml": {"from_ambiguous": True, "from_address": ""},
    "43_from_display_address_mismatch.eml": {
        "from_ambiguous": True,
        "from_address": "",
    },
    "44_from_two_addresses.eml": {"from_ambiguous": True, "from_address": ""},
    "45_from_encoded_word_at.eml": {
        "from_ambiguous": True,
        "from_address": "",
        "from_name": "a@pod.example",
    },
    "46_from_comment_address.eml": {"from_ambiguous": True, "from_address": ""},
    "47_from_comment_benign.eml": {
        "from_ambiguous": False,
        "from_address": "ann@example.com",
    },
    "48_from_duplicate_headers.eml": {"from_ambiguous": True, "from_address": ""},
    "49_header_100kb.eml": {"text": "Huge headers.", **ANN},
    "50_invalid_base64_body.eml": {"text": "Hello broken world"},
    "51_read_receipt_mdn.eml": {"is_auto_reply": True, "is_bounce": False},
    "52_mbox_from_line.eml": {"subject": "From an mbox", **ANN},
    "53_forwarded_message_attachment.eml": {"text": "See the attachments."},
    "54_undisclosed_recipients.eml": {
        "to": (),
        "cc": ("bob@example.org", "ann@example.com"),
    },
    "55_korean_euckr_declared_cp949_body.eml": {"text": "똠방각하 주문 건"},
}  # fmt: skip


class TestEmailParse:
    def test_corpus_holds_forty_or_more_files_each_in_the_readme(self):
        readme = (CORPUS / "README.md").read_text(encoding="utf-8")

        missing = [name for name in CORPUS_FILES if f"`{name}`" not in readme]

        assert len(CORPUS_FILES) >= 40
        assert missing == []
        assert set(EXPECTED) == set(CORPUS_FILES)

    @pytest.mark.parametrize("name", CORPUS_FILES)
    def test_every_corpus_file_parses_within_its_promises(self, name):
        raw = (CORPUS / name).read_bytes()

        parsed = email_parse(raw)

        assert_invariants(parsed, raw)

    @pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
    def test_corpus_file_gives_what_its_readme_says(self, name, expected):
        parsed = corpus(name)

        for field, value in expected.items():
            actual = (
                summary(parsed) if field == "attachments" else getattr(parsed, field)
            )
            assert actual == value, field

    def test_crlf_and_lf_line_endings_give_the_same_message(self):
        lf = (CORPUS / "01_text_only_lf.eml").read_bytes()

        from_lf = email_parse(lf)
        from_crlf = email_parse(lf.replace(b"\n", b"\r\n"))

        assert (from_crlf.subject, from_crlf.text) == (from_lf.subject, from_lf.text)
        assert from_crlf.raw_sha256 != from_lf.raw_sha256

    def test_bounce_keeps_the_report_and_the_original_as_attachments(self):
        parsed = corpus("21_bounce_delivery_status.eml")

        types = [attachment.content_type for attachment in parsed.attachments]
        original = parsed.attachments[1].data

        assert types == ["message/delivery-status", "message/rfc822"]
        assert b"<t1234.m1.0123456789abcdef0123@pod.example>" in original

    def test_forwarded_message_is_kept_whole_under_its_name(self):
        parsed = corpus("53_forwarded_message_attachment.eml")

        [forwarded] = parsed.attachments

        assert (forwarded.filename, forwarded.content_type) == (
            "original.eml",
            "message/rfc822",
        )
        assert forwarded.data.startswith(b"From: Supplier <billing@supplier.example>")
        assert b"Please pay invoice 77." in forwarded.data

    def test_sanitises_the_html_of_the_xss_mail(self):
        parsed = corpus("20_html_xss.eml")

        assert html_problems(parsed.html) == []
        assert "alert" not in parsed.html
        assert 'href="https://shop.example/orders/1"' in parsed.html

    def test_stores_a_safe_selection_of_headers_decoded_and_truncated(self):
        parsed = corpus("49_header_100kb.eml")

        assert set(parsed.headers) == {
            "From", "To", "Subject", "Date", "Message-ID",
        }  # fmt: skip
        assert len(parsed.headers["Subject"]) == 2000
        assert len(parsed.subject) == 250
        assert (
            corpus("03_korean_euckr_base64.eml").headers["Subject"] == "배송이 늦어요"
        )

    def test_records_defects_of_a_broken_body(self):
        parsed = corpus("50_invalid_base64_body.eml")

        assert "InvalidBase64CharactersDefect" in parsed.defects

    def test_skips_an_attachment_over_the_size_limit_and_says_why(self):
        parsed = corpus("12_nested_related_inline.eml", max_attachment_bytes=66)

        assert [item.filename for item in parsed.attachments] == ["invoice.pdf"]
        assert parsed.skipped_attachments == (
            "logo.png: 69 bytes is over the 66-byte limit",
        )
        assert "attachment_over_size_limit" in parsed.defects

    def test_skips_attachments_over_the_count_limit(self):
        parsed = corpus("13_attachments_sniffed.eml", max_attachments=2)

        assert [item.filename for item in parsed.attachments] == [
            "photo.jpg",
            "page.html",
        ]
        assert len(parsed.skipped_attachments) == 5
        assert parsed.skipped_attachments[0] == "image.png: over the 2-attachment limit"

    def test_stops_at_the_depth_limit(self):
        parsed = corpus("12_nested_related_inline.eml", max_depth=1)

        assert parsed.text == ""
        assert parsed.html == ""
        assert [item.filename for item in parsed.attachments] == ["invoice.pdf"]
        assert "max_depth_exceeded" in parsed.defects

    def test_stops_at_the_part_limit(self):
        parsed = corpus("13_attachments_sniffed.eml", max_parts=3)

        assert [item.filename for item in parsed.attachments] == ["photo.jpg"]
        assert "max_parts_exceeded" in parsed.defects

    def test_truncates_the_body_at_the_character_limit(self):
        parsed = corpus("01_text_only_lf.eml", max_body_chars=10)

        assert parsed.text == "Hello,\n\nmy"
        assert "body_truncated" in parsed.defects

    def test_keeps_the_root_and_the_newest_references_of_a_long_thread(self):
        ids = " ".join(f"<r{number}@example.com>" for number in range(200))
        raw = HEAD + f"References: {ids}\r\n\r\nHi\r\n".encode()

        parsed = email_parse(raw)

        assert len(parsed.references) == 50
        assert parsed.references[0] == "<r0@example.com>"
        assert parsed.references[-1] == "<r199@example.com>"

    def test_reads_a_bare_message_id_as_bracketed(self):
        raw = HEAD.replace(b"<p1@example.com>", b"p1@example.com") + b"\r\nHi"

        assert email_parse(raw).message_id == "<p1@example.com>"

    def test_takes_the_html_meta_charset_when_mime_gives_none(self):
        html = '<meta charset="euc-kr"><p>배송</p>'.encode("euc-kr")
        raw = HEAD + b"Content-Type: text/html\r\n\r\n" + html

        assert email_parse(raw).text == "배송"

    def test_reads_undeclared_iso_2022_jp_by_its_escapes(self):
        raw = HEAD + b"\r\n" + "お問い合わせ".encode("iso-2022-jp")

        assert email_parse(raw).text == "お問い合わせ"

    def test_accepts_a_bytearray(self):
        raw = bytearray((CORPUS / "01_text_only_lf.eml").read_bytes())

        assert email_parse(raw).subject == "Where is my order?"

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"   \r\n\r\n",
            b"Hello, this is not an email at all.\n",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
            b"\x00\x01\x02\x03",
            b" folded: continuation without a first header\n\nbody",
        ],
    )
    def test_refuses_bytes_that_are_not_an_email(self, raw):
        with pytest.raises(EmailUnparseable):
            email_parse(raw)

    def test_is_exported_by_the_rules_facade(self):
        assert rules.email_parse is email_parse
        assert {"EmailUnparseable", "ParsedAttachment", "ParsedEmail"} <= set(
            rules.__all__
        )

    def test_refuses_text_instead_of_bytes(self):
        with pytest.raises(EmailUnparseable, match="expected bytes"):
            email_parse("From: a@b.example\n\nhi")  # type: ignore[arg-type]


class TestEmailParseSender:
    """CVE-2023-27043 (reliability row T18): only one unambiguous mailbox gets an
    address; everything else is flagged for quarantine."""

    @pytest.mark.parametrize(
        ("sender", "address", "name"),
        [
            ("Ann Lee <ann@example.com>", "ann@example.com", "Ann Lee"),
            ("Ann Lee <Ann.Lee@EXAMPLE.Com>", "Ann.Lee@example.com", "Ann Lee"),
            ('"Lee, Ann" <ann@example.com>', "ann@example.com", "Lee, Ann"),
            ("John Q. Public <jqp@example.com>", "jqp@example.com", "John Q. Public"),
            ("=?utf-8?b?7ZmN6ri464+Z?= <hong@example.kr>", "hong@example.kr", "홍길동"),
            ('"=?utf-8?q?Lee=2C_Ann?=" <ann@x.example>', "ann@x.example", "Lee, Ann"),
            ("<ann@example.com>", "ann@example.com", ""),
            ("ann@example.com", "ann@example.com", ""),
            ("ann@example.com (Ann Lee)", "ann@example.com", ""),
            ('"ann@x.example" <ann@x.example>', "ann@x.example", "ann@x.example"),
            ("홍길동 <hong@예시.한국>", "hong@예시.한국", "홍길동"),
        ],
    )  # fmt: skip
    def test_reads_a_plain_mailbox(self, sender, address, name):
        parsed = email_parse(mail(sender=sender))

        assert (parsed.from_address, parsed.from_name) == (address, name)
        assert parsed.from_ambiguous is False

    @pytest.mark.parametrize(
        "sender",
        [
            '"a@pod.example"@evil.test',
            "x@evil.test <y@pod.example>",
            "a@pod.example, b@evil.test",
            "a@pod.example; b@evil.test",
            "=?utf-8?q?a=40pod.example?= <b@evil.test>",
            "=?utf-8?b?YUBwb2QuZXhhbXBsZQ==?= <b@evil.test>",
            '"a@pod.example" <b@evil.test>',
            "b@evil.test (a@pod.example)",
            "b@evil.test (=?utf-8?q?a=40pod.example?=)",
            "a@pod.example <a@pod.example>",
            "Team: a@pod.example;",
            "undisclosed-recipients:;",
            "a@pod.example@evil.test",
            "ann@",
            "@evil.test",
            "Ann Lee",
            "<>",
            "ann@localhost",
            "ann@[192.0.2.1]",
            "ann@-evil.test",
            '"ann lee"@example.com',
            "a\\@pod.example@evil.test",
            "x" * 2000 + " <ann@example.com>",
            "((((((((((ann@example.com",
        ],
    )
    def test_flags_an_ambiguous_sender_without_an_address(self, sender):
        parsed = email_parse(mail(sender=sender))

        assert parsed.from_ambiguous is True
        assert parsed.from_address == ""

    def test_reply_to_is_strict_too(self):
        raw = HEAD + b'Reply-To: "a@pod.example"@evil.test\r\n\r\nHi'
        plain_raw = HEAD + b"Reply-To: Billing <billing@example.com>\r\n\r\nHi"

        assert email_parse(raw).reply_to == ""
        assert email_parse(plain_raw).reply_to == "billing@example.com"

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "a", "ann", "pod.example", "evil.test", "@", '"', "<", ">", ",",
                    ";", ":", "(", ")", " ", ".", "\\", "Ann Lee ", "x@evil.test",
                    "a@pod.example", "=?utf-8?q?a=40pod.example?=", "=?utf-8?q?b?=",
                ]
            ),
            max_size=12,
        ).map("".join)
    )  # fmt: skip
    def test_an_address_it_gives_is_the_strict_reading_and_the_only_one(self, sender):
        try:
            parsed = email_parse(mail(sender=sender))
        except EmailUnparseable:
            return
        if not parsed.from_address:
            return

        strict = default_policy.header_factory("from", sender)
        [mailbox] = strict.addresses
        legacy = email_utils.getaddresses([sender])
        shown = re.findall(r"[\w.+-]+@[\w.-]+", str(sender).replace("=40", "@"))

        assert parsed.from_ambiguous is False
        assert parsed.from_address == f"{mailbox.username}@{mailbox.domain.lower()}"
        assert [pair[1].lower() for pair in legacy] == [parsed.from_address.lower()]
        assert {found.lower() for found in shown} <= {parsed.from_address.lower()}


# --- email_parse: pathological input (reliability row T25) ----------------------------

SLOW = pytest.mark.timeout(60)


def nested_multiparts(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return HEAD + opening + b"Content-Type: text/plain\r\n\r\nleaf\r\n" + closing


def many_parts(count: int, part_header: bytes) -> bytes:
    parts = b"".join(
        b"--B\r\n" + part_header + b"\r\n\r\n%%PDF-%d\r\n" % number
        for number in range(count)
    )
    return (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        + parts
        + b"--B--\r\n"
    )


class TestEmailParsePathological:
    @SLOW
    def test_ten_thousand_parts_stop_at_the_part_limit(self):
        raw = many_parts(
            10_000,
            b"Content-Type: application/pdf\r\n"
            b'Content-Disposition: attachment; filename="a.pdf"',
        )

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert len(parsed.attachments) == 50
        assert "max_parts_exceeded" in parsed.defects
        assert len(parsed.skipped_attachments) == 100

    @SLOW
    def test_ten_thousand_parts_with_hostile_content_types(self):
        raw = many_parts(10_000, b"Content-Type: text/plain" + b";" * 3000 + b' a="')

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert "max_parts_exceeded" in parsed.defects

    @SLOW
    def test_multipart_nesting_1000_deep_falls_back_to_the_headers(self):
        parsed, elapsed = parse_timed(nested_multiparts(1000))

        assert elapsed < 10
        assert parsed.subject == "Help"
        assert parsed.from_address == "ann@example.com"
        assert "mime_nesting_too_deep_for_parser" in parsed.defects

    def test_message_rfc822_nesting_1000_deep_falls_back_to_the_headers(self):
        raw = HEAD + b"Content-Type: message/rfc822\r\n\r\n" * 1000 + b"\r\nhi"

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert "mime_nesting_too_deep_for_parser" in parsed.defects

    def test_nesting_past_the_depth_limit_is_cut(self):
        parsed, elapsed = parse_timed(nested_multiparts(100))

        assert elapsed < 10
        assert parsed.text == ""
        assert "max_depth_exceeded" in parsed.defects

    @pytest.mark.parametrize(
        ("header", "value"),
        [
            ("Subject", b"=?utf-8?q?a?= " * 70_000),
            ("Subject", b"x" * 1_000_000),
            ("From", b'"a\\"' * 250_000),
            ("From", b"(" * 1_000_000),
            ("To", b"a@b.example, " * 80_000),
            ("To", b";" * 1_000_000),
            ("References", b"<a@b> " * 170_000),
            ("Content-Type", b"text/plain" + b";" * 1_000_000),
            ("Content-Type", b"text/plain" + b"(" * 1_000_000),
            ("Content-Type", b'text/plain; a="' + b';"; ' * 250_000),
            ("Content-Disposition", b"attachment; " + b"filename*=a; " * 80_000),
            ("X-Long", b"x" * 1_000_000),
        ],
        ids=lambda value: value if isinstance(value, str) else f"{len(value)}B",
    )
    def test_a_one_megabyte_header_line(self, header, value):
        raw = HEAD.replace(f"{header}:".encode(), b"X-Old:") + header.encode() + b": "
        raw += value + b"\r\n\r\nbody\r\n"

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert_invariants(parsed, raw)

    def test_ten_thousand_recipients_are_capped(self):
        recipients = b", ".join(b"user%d@example.com" % i for i in range(10_000))
        raw = HEAD.replace(b"To: support@pod.example", b"To: " + recipients) + b"\r\nhi"

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert 100 < len(parsed.to) <= 500
        assert parsed.to[0] == "user0@example.com"
        assert "recipients_truncated:To" in parsed.defects

    @SLOW
    def test_a_fifty_megabyte_body_is_truncated(self):
        line = (
            b"SGVsbG8gd29ybGQsIGhlbGxvIHdvcmxkLCBoZWxsbyB3b3JsZCwgaGVsbG8gd29ybGQs\r\n"
        )
        raw = (
            HEAD
            + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + line * (50_000_000 // len(line))
        )

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert len(parsed.text) == 1_000_000
        assert parsed.text.startswith("Hello world, hello world")
        assert "body_truncated" in parsed.defects

    @SLOW
    def test_fifty_million_empty_lines_are_cut_at_the_line_limit(self):
        raw = HEAD + b"\r\nHello\n" + b"\n" * 50_000_000

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert parsed.text == "Hello"
        assert "message_cut_at_line_limit" in parsed.defects

    @pytest.mark.parametrize(
        "html",
        [
            b"<div>" * 100_000 + b"x" + b"</div>" * 100_000,
            b"".join(b'<b id="%d">' % i for i in range(50_000)) + b"</p>x" * 50_000,
            b"".join(b'<i title="%d">' % i for i in range(2000)) + b"<div>x" * 50_000,
            b"<ul><li>" * 50_000,
            b"&amp;" * 100_000 + b"&#x41;" * 100_000,
            b"<!--" + b"x" * 1_000_000,
            b"<" * 1_000_000,
        ],
        ids=[
            "nested-div",
            "misnested-b",
            "formatting-then-div",
            "li",
            "entities",
            "open-comment",
            "lt",
        ],
    )
    def test_hostile_html(self, html):
        raw = HEAD + b"Content-Type: text/html\r\n\r\n" + html

        parsed, elapsed = parse_timed(raw)

        assert elapsed < 10
        assert html_problems(parsed.html) == []


# --- email_parse: fuzzing -------------------------------------------------------------

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mutated(data: bytes, seed: int, count: int) -> bytes:
    """Flip, insert, delete and duplicate bytes at random places."""
    generator = random.Random(seed)
    buffer = bytearray(data)
    for _ in range(count):
        if not buffer:
            break
        at = generator.randrange(len(buffer))
        operation = generator.randrange(5)
        if operation == 0:
            buffer[at] = generator.randrange(256)
        elif operation == 1:
            noise = b"\r\n:;=<>\"'@-?\x00\xff "
            length = generator.randrange(1, 4)
            buffer[at:at] = bytes(generator.choice(noise) for _ in range(length))
        elif operation == 2:
            del buffer[at : at + generator.randrange(1, 64)]
        elif operation == 3:
            buffer[at:at] = buffer[at : at + generator.randrange(1, 256)]
        else:
            buffer[at:at] = generator.choice(
                [b"\r\n--XX\r\n", b"=?utf-8?B?", b"boundary=", b"\r\n\r\n", b"=\r\n"]
            )
    return bytes(buffer)


def parse_or_refuse(raw: bytes) -> None:
    """email_parse's whole contract: a ParsedEmail, or EmailUnparseable for
    something that is not an email, never an internal error."""
    try:
        parsed = email_parse(raw)
    except EmailUnparseable as refused:
        reason = str(refused)
    else:
        assert_invariants(parsed, raw)
        return
    assert not reason.startswith("internal parser error"), reason


class TestEmailParseFuzz:
    @FUZZ
    @given(st.binary(max_size=4000))
    def test_random_bytes(self, raw):
        parse_or_refuse(raw)

    @FUZZ
    @given(
        st.sampled_from(CORPUS_FILES),
        st.integers(min_value=0, max_value=2**32),
        st.integers(min_value=1, max_value=40),
    )
    def test_mutated_corpus_files(self, name, seed, count):
        parse_or_refuse(mutated((CORPUS / name).read_bytes(), seed, count))

    @FUZZ
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(
                    ["From", "To", "Cc", "Subject", "Content-Type", "Date",
                     "Content-Disposition", "Message-ID", "References",
                     "Content-Transfer-Encoding", "Return-Path", "Auto-Submitted"]
                ),
                st.text(max_size=80),
            ),
            max_size=8,
        ),
        st.binary(max_size=500),
    )  # fmt: skip
    def test_random_header_values(self, headers, body):
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        raw = head.encode("utf-8", "surrogatepass") + b"\r\n" + body

        parse_or_refuse(raw)


# --- html_sanitise --------------------------------------------------------------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.test/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="https://ok.example/a.png" onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav&#9ascript:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;'
    'alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<iframe src="data:text/html,<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    "<style>@import 'javascript:alert(1)';</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style>"
    "</mglyph></table></mtext></math>",
    '<math href="javascript:alert(1)">x</math>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)>",
    "<textarea autofocus onfocus=alert(1)>",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    '<p onmouseover="alert(1)">x</p>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<img """><script>alert(1)</script>">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<a href="//evil.test/x">x</a>',
    '<img src="cid:logo@x" onload="alert(1)">',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "<xss onafterscriptexecute=alert(1)>",
    '"><script>alert(1)</script>',
    '<a href="#" onclick="alert(1)" class="x" id="y" name="z">x</a>',
]


class TestHtmlSanitise:
    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    def test_leaves_no_script_handler_or_dangerous_url(self, payload):
        cleaned = html_sanitise(payload)

        assert html_problems(cleaned) == []
        assert "javascript:" not in cleaned.lower()
        assert not re.search(r"\son\w+\s*=", cleaned, re.IGNORECASE)

    def test_keeps_safe_formatting_and_marks_links(self):
        cleaned = html_sanitise(
            '<p>Hi <b>there</b>, <a href="https://example.com/a">see</a> '
            '<a href="mailto:ann@example.com">mail</a></p>'
        )

        assert cleaned == (
            '<p>Hi <b>there</b>, <a href="https://example.com/a" rel="noopener '
            'noreferrer nofollow">see</a> <a href="mailto:ann@example.com" '
            'rel="noopener noreferrer nofollow">mail</a></p>'
        )

    def test_keeps_only_https_and_cid_images(self):
        cleaned = html_sanitise(
            '<img src="cid:logo@x"><img src="https://cdn.example/a.png">'
            '<img src="http://cdn.example/a.png"><img src="/relative.png">'
        )

        assert cleaned == (
            '<img src="cid:logo@x"><img src="https://cdn.example/a.png"><img><img>'
        )

    def test_drops_script_and_style_with_their_content(self):
        cleaned = html_sanitise("<style>p{color:red}</style><script>var a;</script>ok")

        assert cleaned == "ok"

    def test_keeps_the_text_past_the_tag_limit(self):
        cleaned = html_sanitise("<span>x</span>" * 12_000 + "<b>THE END</b>")

        assert cleaned.rstrip().endswith("THE END")
        assert html_problems(cleaned) == []

    def test_returns_nothing_for_nothing(self):
        assert html_sanitise("") == ""


# --- html_to_text ---------------------------------------------------------------------


class TestHtmlToText:
    def test_turns_blocks_and_breaks_into_lines_and_decodes_entities(self):
        text = html_to_text(
            "<h1>Title</h1><p>One &amp; two&nbsp;three</p><div>Line<br>next</div>"
            "<ul><li>a</li><li>b</li></ul>"
        )

        assert text == "Title\n\nOne & two three\n\nLine\nnext\n\na\n\nb"

    def test_drops_scripts_styles_and_titles(self):
        text = html_to_text(
            "<html><head><title>T</title><style>p{}</style></head>"
            "<body><script>var secret;</script><p>Visible</p></body></html>"
        )

        assert text == "Visible"

    def test_collapses_source_whitespace_like_a_browser(self):
        assert html_to_text("<p>one\n   two\t three</p>") == "one two three"

    def test_separates_table_cells(self):
        assert html_to_text("<table><tr><td>a</td><td>b</td></tr></table>") == "a b"

    def test_returns_nothing_for_nothing(self):
        assert html_to_text("") == ""


# --- quoted_reply_trim ----------------------------------------------------------------


class TestQuotedReplyTrim:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "Thanks!\n\nOn Tue, Jan 2, 2024 at 10:00 AM Ann <ann@x.com> wrote:"
                "\n> hi",
                "Thanks!",
            ),
            (
                "Thanks!\nOn Tue, Jan 2, 2024 at 10:00 AM Ann Lee <\nann@x.com> wrote:"
                "\n> hi",
                "Thanks!",
            ),
            ("Ok\n\n-----Original Message-----\nFrom: A\nSent: B\n\nold", "Ok"),
            ("Ok\n\n----- 원본 메시지 -----\n보낸 사람: A\n\nold", "Ok"),
            (
                "Ok\n________________________________\nFrom: Support <s@pod.example>\n"
                "Sent: Tuesday, January 2, 2024\nTo: Ann\nSubject: Re: x\n\nold",
                "Ok",
            ),
            ("Ok\nFrom: Support <s@pod.example>\nDate: Tue, 2 Jan 2024\n\nold", "Ok"),
            (
                "네\n\n2024년 1월 2일 (화) 오전 10:00, 고객지원 <s@pod.example>님이 "
                "작성:\n> 이전",
                "네",
            ),
            (
                "네\n\n2024. 1. 2. 오전 10:00, 고객지원 <s@pod.example> 작성:\n> 이전",
                "네",
            ),
            (
                "Merci\n\nLe mar. 2 janv. 2024 à 10:00, S <s@pod.example> a écrit :"
                "\n> x",
                "Merci",
            ),
            (
                "Danke\n\nAm 02.01.2024 um 10:00 schrieb S <s@pod.example>:\n> x",
                "Danke",
            ),
            (
                "Gracias\n\nEl mar, 2 ene 2024 a las 10:00, S (<s@pod.example>) "
                "escribió:\n> x",
                "Gracias",
            ),
            (
                "Reply on top\n\n> quoted one\n> quoted two\n>\n> quoted three\n\n",
                "Reply on top",
            ),
            (
                "> question one\nanswer one\n> question two\nanswer two",
                "> question one\nanswer one\n> question two\nanswer two",
            ),
            (
                "On Monday I wrote: the order number is 12.",
                "On Monday I wrote: the order number is 12.",
            ),
            ("  Just a message.  \n\n", "Just a message."),
            (
                "On Tue, Jan 2, 2024 Ann <ann@x.com> wrote:\n> everything is quoted",
                "On Tue, Jan 2, 2024 Ann <ann@x.com> wrote:\n> everything is quoted",
            ),
            (
                "Line one\r\nLine two\r\n\r\nOn Tue, Ann <a@x.com> wrote:\r\n> x",
                "Line one\nLine two",
            ),
            ("", ""),
        ],
    )
    def test_cuts_at_the_first_reply_header_or_trailing_quote(self, text, expected):
        assert quoted_reply_trim(text) == expected

    @settings(max_examples=200, deadline=None, database=None)
    @given(st.text(max_size=300))
    def test_never_empties_a_text_with_something_in_it(self, text):
        trimmed = quoted_reply_trim(text)

        assert bool(trimmed) == bool(text.strip())

    def test_is_fast_on_a_million_characters(self):
        text = "On a line: with a colon and nothing else\n" * 25_000

        started = time.perf_counter()
        quoted_reply_trim(text)

        assert time.perf_counter() - started < 5


# --- message_ids_parse ----------------------------------------------------------------


class TestMessageIdsParse:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("<a@b.example>", ("<a@b.example>",)),
            ("<a@b.example> <c@d.example>\r\n <e@f.example>",
             ("<a@b.example>", "<c@d.example>", "<e@f.example>")),
            ("<a@b.example> <a@b.example> <c@d.example>",
             ("<a@b.example>", "<c@d.example>")),
            ("<c@d.example> (comment) <a@b.example>",
             ("<c@d.example>", "<a@b.example>")),
            ("<>", ()),
            ("<no-at-sign>", ()),
            ("a@b.example", ()),
            ("<a b@c.example>", ()),
            ("<a@b.example", ()),
            ("<" + "a" * 240 + "@b.example>", ()),
            ("<" + "a" * 236 + "@b.example>", ("<" + "a" * 236 + "@b.example>",)),
            ("<한@b.example>", ()),
            ("", ()),
        ],
    )  # fmt: skip
    def test_finds_bracketed_ids_in_order_without_repeats(self, value, expected):
        assert message_ids_parse(value) == expected

    def test_is_fast_on_a_megabyte_of_ids(self):
        value = "<a@b> " * 170_000 + "<" * 100_000

        started = time.perf_counter()
        ids = message_ids_parse(value)

        assert ids == ("<a@b>",)
        assert time.perf_counter() - started < 5


# --- ticket_reference_find ------------------------------------------------------------


class TestTicketReferenceFind:
    @pytest.mark.parametrize(
        ("subject", "expected"),
        [
            ("Re: [#1234] Late delivery", 1234),
            ("[Ticket #1234]", 1234),
            ("RE: FW: [ticket#77] Refund", 77),
            ("[ # 5 ] spaced", 5),
            ("[#12] and [#34]", 12),
            ("order #1234", None),
            ("#1234", None),
            ("[1234]", None),
            ("[#]", None),
            ("[#0]", None),
            ("[#12a]", None),
            ("[#\uff11\uff12\uff13]", None),  # full-width digits
            ("[Order #1234]", None),
            ("", None),
        ],
    )
    def test_reads_only_the_bracketed_form(self, subject, expected):
        assert ticket_reference_find(subject) == expected
