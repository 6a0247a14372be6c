"""Write the .eml corpus of tests/emails, byte for byte.

The files are committed; this script documents how each was made and rebuilds them
(`.venv/bin/python tests/emails/build_corpus.py`). Every message is written by hand,
not by the email package, so that each encoding, line ending and defect is exactly
what a real client or an attacker would send. Expectations: README.md beside it and
tests/unit/test_email_parsing.py.
"""

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATE = "Date: Tue, 02 Jan 2024 10:00:00 +0900"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe"
    b"\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
ZIP = (
    b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 20 + b"PK\x05\x06" + b"\x00" * 18
)
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(2)</script></svg>\n"
)


def b64(data: bytes) -> str:
    """Base64 in 76-character lines, as mail clients write it."""
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def qp(data: bytes) -> str:
    return quopri.encodestring(data).decode("ascii")


def word(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    """An RFC 2047 encoded word."""
    raw = text.encode(charset)
    if encoding == "B":
        return f"=?{charset}?B?{base64.b64encode(raw).decode('ascii')}?="
    body = quopri.encodestring(raw, header=True).decode("ascii").replace("?", "=3F")
    return f"=?{charset}?Q?{body}?="


def header_block(
    subject: str = "Where is my order?",
    sender: str = "Ann Lee <ann@example.com>",
    message_id: str = "<m1.ann@example.com>",
    extra: str = "",
    *,
    to: str = "Pod Support <support@pod.example>",
) -> str:
    lines = [f"From: {sender}"] if sender else []
    lines += [f"To: {to}", f"Subject: {subject}", DATE]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    lines.append("MIME-Version: 1.0")
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines) + "\n"


def plain(text: str, charset: str = "utf-8", cte: str = "8bit") -> str:
    return (
        f"Content-Type: text/plain; charset={charset}\n"
        f"Content-Transfer-Encoding: {cte}\n\n{text}"
    )


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def reply(body: str, subject: str = "Re: [#1234] Late delivery") -> bytes:
    extra = (
        "In-Reply-To: <t1234.m1.0123456789abcdef0123@pod.example>\n"
        "References: <m1.ann@example.com>\n"
        " <t1234.m1.0123456789abcdef0123@pod.example>\n"
    )
    return utf8(
        header_block(subject, message_id="<m2.ann@example.com>", extra=extra)
        + plain(body)
    )


def attachment_mail(*parts: str, subject: str = "Files attached") -> bytes:
    """A multipart/mixed with a short text part and the given attachment parts."""
    body = [header_block(subject, extra='Content-Type: multipart/mixed; boundary="XX"')]
    body.append("\n--XX\n" + plain("See the attachments.\n"))
    body.extend(f"\n--XX\n{part}" for part in parts)
    body.append("\n--XX--\n")
    return utf8("".join(body))


def part(headers: str, data: bytes) -> str:
    return f"{headers.strip()}\nContent-Transfer-Encoding: base64\n\n{b64(data)}\n"


XSS_HTML = "\n".join(
    [
        "<html><head><title>t</title><style>"
        "body{background:url(javascript:alert(1))}</style>",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
        '<base href="https://evil.test/"></head>',
        '<body onload="alert(1)">',
        '<p>Hello <b>agent</b>, please <a href="https://shop.example/orders/1">'
        "check my order</a>.</p>",
        "<script>alert('xss')</script>",
        '<img src="x" onerror="alert(1)">'
        '<img src="https://cdn.example/ok.png" alt="ok">',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<a href="javascript:alert(1)">js</a> <a href=" JaVaScRiPt:alert(1)">js2</a>',
        '<a href="jav&#x09;ascript:alert(1)">js3</a>'
        ' <a href="vbscript:msgbox(1)">vb</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
        '<svg onload="alert(1)"><script>alert(2)</script></svg>',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(3)>"
        "</style></mglyph></table></mtext></math>",
        '<iframe src="https://evil.test/"></iframe><object data="x.swf">'
        '</object><embed src="x.swf">',
        '<form action="https://evil.test/"><input name="password">'
        '<button formaction="javascript:alert(1)">Go</button></form>',
        '<div style="position:fixed;top:0;width:100%;height:100%"'
        ' onclick="alert(1)">overlay</div>',
        "</body></html>",
        "",
    ]
)

DSN_STATUS = """Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 02 Jan 2024 10:00:00 +0900

Final-Recipient: rfc822; nobody@customer.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown
"""


def corpus() -> dict[str, bytes]:
    """File name -> exact bytes."""
    files: dict[str, bytes] = {}

    files["01_text_only_lf.eml"] = utf8(
        header_block() + plain("Hello,\n\nmy order 1234 has not arrived yet.\n\nAnn\n")
    )
    files["02_text_only_crlf.eml"] = crlf(
        header_block("CRLF line endings", message_id="<m2.crlf@example.com>")
        + plain("Hello over CRLF.\nSecond line.\n")
    ).encode("utf-8")
    files["03_korean_euckr_base64.eml"] = utf8(
        header_block(
            word("배송이 늦어요", "euc-kr"),
            f"{word('홍길동', 'euc-kr')} <hong@Example.KR>",
            "<m3.hong@example.kr>",
        )
        + plain(
            b64(
                "안녕하세요. 주문한 상품이 아직 도착하지 않았습니다.\n".encode("euc-kr")
            ),
            "euc-kr",
            "base64",
        )
    )
    files["04_korean_utf8_qp.eml"] = utf8(
        header_block(
            word("환불 요청드립니다", "utf-8", "Q"), message_id="<m4@example.kr>"
        )
        + plain(
            qp(utf8("환불을 요청합니다. 감사합니다.\n")), "utf-8", "quoted-printable"
        )
    )
    files["05_korean_utf8_base64_alternative.eml"] = utf8(
        header_block(
            word("로그인이 안 돼요"),
            extra='Content-Type: multipart/alternative; boundary="ALT"',
        )
        + "\n--ALT\n"
        + plain(b64(utf8("로그인 버튼을 눌러도 반응이 없습니다.\n")), "utf-8", "base64")
        + "\n--ALT\nContent-Type: text/html; charset=utf-8\n"
        + "Content-Transfer-Encoding: base64\n\n"
        + b64(utf8("<p>로그인 버튼을 눌러도 <b>반응이 없습니다</b>.</p>"))
        + "\n--ALT--\n"
    )
    files["06_korean_ks_c_5601_outlook.eml"] = crlf(
        header_block(
            "=?ks_c_5601-1987?B?"
            + base64.b64encode("똠방각하 문의".encode("cp949")).decode()
            + "?=",
            "=?ks_c_5601-1987?B?"
            + base64.b64encode("김똠".encode("cp949")).decode()
            + "?= <ddom@example.kr>",
            "<m6@example.kr>",
        )
        + plain(
            b64("똠방각하 제품 문의드립니다.\n".encode("cp949")),
            '"ks_c_5601-1987"',
            "base64",
        )
    ).encode("ascii")
    files["07_japanese_iso2022jp.eml"] = (
        header_block(
            word("お問い合わせ", "iso-2022-jp"),
            f"{word('山田太郎', 'iso-2022-jp')} <yamada@example.jp>",
            "<m7@example.jp>",
        ).encode("ascii")
        + b"Content-Type: text/plain; charset=ISO-2022-JP\n"
        + b"Content-Transfer-Encoding: 7bit\n\n"
        + "ご注文の件でご連絡いたします。\n".encode("iso-2022-jp")
    )
    files["08_unknown_charset.eml"] = utf8(
        header_block(
            "=?x-unknown-foo?B?"
            + base64.b64encode(utf8("문자셋 테스트")).decode()
            + "?=",
            message_id="<m8@example.kr>",
        )
        + plain("알 수 없는 문자셋이지만 UTF-8입니다.\n", '"x-unknown-foo"')
    )
    files["09_wrong_declared_charset.eml"] = utf8(
        header_block("Wrong charset", message_id="<m9@example.com>")
        + plain("Café crème — 감사합니다\n", "iso-8859-1")
    )
    files["10_raw_utf8_headers.eml"] = utf8(
        header_block("주문 취소 문의", "김철수 <kim@example.kr>", "<m10@example.kr>")
        + plain("주문을 취소하고 싶습니다.\n")
    )
    files["11_html_only.eml"] = utf8(
        header_block("HTML only", message_id="<m11@example.com>")
        + "Content-Type: text/html; charset=utf-8\n\n"
        + "<html><body><h1>Invoice&nbsp;42</h1><p>Amount: &euro;20 &amp; tax</p>"
        + "<ul><li>First&#x20;item</li><li>Second</li></ul><p>Line<br>break</p>"
        + "<script>var hidden = 1;</script></body></html>\n"
    )
    files["12_nested_related_inline.eml"] = utf8(
        header_block(
            "Nested parts", extra='Content-Type: multipart/mixed; boundary="MIX"'
        )
        + '\n--MIX\nContent-Type: multipart/alternative; boundary="ALT"\n\n--ALT\n'
        + plain("Plain version with a logo.\n")
        + '\n--ALT\nContent-Type: multipart/related; boundary="REL"\n\n--REL\n'
        + "Content-Type: text/html; charset=utf-8\n\n"
        + '<p>HTML version <img src="cid:logo@pod.example" alt="logo"></p>\n'
        + "\n--REL\n"
        + part(
            "Content-Type: image/png; name=logo.png\nContent-ID: <logo@pod.example>\n"
            "Content-Disposition: inline; filename=logo.png",
            PNG,
        )
        + "\n--REL--\n\n--ALT--\n\n--MIX\n"
        + part(
            'Content-Type: application/pdf; name="invoice.pdf"\n'
            'Content-Disposition: attachment; filename="invoice.pdf"',
            PDF,
        )
        + "\n--MIX--\n"
    )
    files["13_attachments_sniffed.eml"] = attachment_mail(
        part(
            "Content-Type: application/octet-stream\n"
            'Content-Disposition: attachment; filename="photo.jpg"',
            JPEG,
        ),
        part(
            "Content-Type: text/html\n"
            'Content-Disposition: attachment; filename="page.html"',
            b"<html><body><script>alert(1)</script></body></html>\n",
        ),
        part(
            "Content-Type: image/png\n"
            'Content-Disposition: attachment; filename="image.png"',
            SVG,
        ),
        part(
            "Content-Type: image/gif\n"
            'Content-Disposition: attachment; filename="notes.gif"',
            b"just some notes, not a picture\n",
        ),
        part(
            "Content-Type: application/zip\n"
            'Content-Disposition: attachment; filename="archive.zip"',
            ZIP,
        ),
        part(
            "Content-Type: application/vnd.openxmlformats-officedocument."
            "wordprocessingml.document\n"
            'Content-Disposition: attachment; filename="report.docx"',
            ZIP,
        ),
        part(
            "Content-Type: application/pdf\n"
            'Content-Disposition: attachment; filename="fake.pdf"',
            b"<html><script>alert(document.cookie)</script></html>\n",
        ),
    )
    files["14_attachment_path_traversal.eml"] = attachment_mail(
        part(
            "Content-Type: text/plain\n"
            'Content-Disposition: attachment; filename="../../etc/passwd"',
            b"root:x:0:0:root:/root:/bin/bash\n",
        ),
        part(
            "Content-Type: text/plain\n"
            "Content-Disposition: attachment;"
            ' filename="..\\\\..\\\\windows\\\\win.ini"',
            b"[fonts]\n",
        ),
    )
    files["15_attachment_rfc2231.eml"] = attachment_mail(
        part(
            "Content-Type: application/pdf\n"
            "Content-Disposition: attachment;\n"
            " filename*=UTF-8''%EA%B2%AC%EC%A0%81%EC%84%9C.pdf",
            PDF,
        ),
        part(
            "Content-Type: text/plain\nContent-Disposition: attachment;\n"
            " filename*0*=utf-8''%EC%9A%94%EC%B2%AD;\n filename*1*=%EC%84%9C.txt",
            b"request\n",
        ),
        part(
            f'Content-Type: application/pdf; name="{word("계약서.pdf")}"\n'
            f'Content-Disposition: attachment; filename="{word("계약서.pdf")}"',
            PDF,
        ),
        part(
            "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
            " filename*=euc-kr''"
            + "".join(f"%{b:02X}" for b in "영수증.pdf".encode("euc-kr")),
            PDF,
        ),
    )
    files["16_attachment_control_chars.eml"] = attachment_mail(
        part(
            "Content-Type: application/pdf\n"
            "Content-Disposition: attachment; filename*=utf-8''in%00voice%07%1B.pdf",
            PDF,
        ),
        part(
            "Content-Type: text/plain\n"
            "Content-Disposition: attachment;"
            " filename*=utf-8''tab%09and%0D%0Anewline.txt",
            b"text\n",
        ),
    )
    files["17_attachment_long_name.eml"] = attachment_mail(
        part(
            "Content-Type: application/pdf\n"
            f'Content-Disposition: attachment; filename="{"a" * 296}.pdf"',
            PDF,
        )
    )
    files["18_attachment_rtl_override.eml"] = attachment_mail(
        part(
            "Content-Type: application/x-msdownload\n"
            "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe",
            b"MZ\x90\x00\x03\x00\x00\x00",
        )
    )
    files["19_attachment_without_name.eml"] = attachment_mail(
        part("Content-Type: application/octet-stream", PDF)
    )
    files["20_html_xss.eml"] = utf8(
        header_block(
            word("<script>alert(1)</script> Order"),
            f'"{word("<img src=x onerror=alert(1)>")}" <xss@example.com>',
            "<m20@example.com>",
            extra='Content-Type: multipart/alternative; boundary="ALT"',
        )
        + "\n--ALT\n"
        + plain("Please see the HTML version.\n")
        + "\n--ALT\nContent-Type: text/html; charset=utf-8\n\n"
        + XSS_HTML
        + "\n--ALT--\n"
    )
    files["21_bounce_delivery_status.eml"] = utf8(
        header_block(
            "Undelivered Mail Returned to Sender",
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "<bounce1@mx.example.net>",
            extra="Auto-Submitted: auto-replied\nReturn-Path: <>\n"
            "Content-Type: multipart/report; report-type=delivery-status;\n"
            ' boundary="RPT"',
            to="t1234.m1.0123456789abcdef0123@pod.example",
        )
        + "\n--RPT\n"
        + plain("Your message could not be delivered to nobody@customer.example.\n")
        + "\n--RPT\nContent-Type: message/delivery-status\n\n"
        + DSN_STATUS
        + "\n--RPT\nContent-Type: message/rfc822\n\n"
        + header_block(
            "[#1234] Your order",
            "Pod Support <support@pod.example>",
            "<t1234.m1.0123456789abcdef0123@pod.example>",
            to="nobody@customer.example",
        )
        + plain("Your order is on its way.\n")
        + "\n--RPT--\n"
    )
    files["22_bounce_mailer_daemon_plain.eml"] = utf8(
        header_block(
            "Mail delivery failed: returning message to sender",
            "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
            "<bounce2@mx.example.net>",
            extra="Return-Path: <>",
        )
        + plain(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered.\n"
        )
    )
    auto = {
        "23_auto_submitted_auto_replied.eml": (
            "Automatic reply: Your order",
            "Auto-Submitted: auto-replied",
        ),
        "24_x_autoreply.eml": ("I am away", "X-Autoreply: yes"),
        "25_precedence_bulk.eml": ("Our newsletter", "Precedence: bulk"),
        "26_mailing_list.eml": (
            "[users] Weekly digest",
            "List-Id: Users <users.lists.example.org>\n"
            "List-Unsubscribe: <mailto:leave@lists.example.org>\nPrecedence: list",
        ),
        "27_out_of_office_exchange.eml": (
            "Automatic reply: Re: [#1234] Late delivery",
            "X-Auto-Response-Suppress: All",
        ),
        "28_out_of_office_precedence_auto_reply.eml": (
            word("Out of Office: 휴가 중입니다"),
            "Precedence: auto_reply\nX-Auto-Response-Suppress: OOF, DR",
        ),
        "29_auto_submitted_no.eml": ("A person wrote this", "Auto-Submitted: no"),
        "30_out_of_office_subject_only.eml": ("Out of Office question", ""),
    }
    for name, (subject, extra) in auto.items():
        files[name] = utf8(
            header_block(subject, message_id=f"<{name[:2]}@example.com>", extra=extra)
            + plain("Thank you for your message.\n")
        )
    files["31_missing_message_id.eml"] = utf8(
        header_block("No Message-ID", message_id="") + plain("No id here.\n")
    )
    files["32_missing_date.eml"] = utf8(
        header_block("No Date", message_id="<m32@example.com>").replace(DATE + "\n", "")
        + plain("No date here.\n")
    )
    files["33_garbage_date_and_message_id.eml"] = utf8(
        header_block("Garbage", message_id="not an id at all").replace(
            DATE, "Date: yesterday afternoon"
        )
        + plain("Garbage headers.\n")
    )
    files["34_missing_from.eml"] = utf8(
        header_block("No sender", sender="", message_id="<m34@example.com>")
        + plain("Who sent this?\n")
    )
    files["35_reply_gmail.eml"] = reply(
        "Thanks, that works now.\n\n"
        "On Tue, Jan 2, 2024 at 10:00 AM Pod Support <\nsupport@pod.example> wrote:\n\n"
        "> Please try again.\n>\n> Pod Support\n"
    )
    files["36_reply_outlook.eml"] = crlf(
        reply(
            "It still has not arrived.\n\n"
            "________________________________\n"
            "From: Pod Support <support@pod.example>\n"
            "Sent: Tuesday, January 2, 2024 10:00 AM\n"
            "To: Ann Lee <ann@example.com>\n"
            "Subject: [#1234] Late delivery\n\n"
            "Your parcel is on its way.\n",
            subject="RE: [#1234] Late delivery",
        ).decode("utf-8")
    ).encode("utf-8")
    files["37_reply_original_message.eml"] = reply(
        "See below.\n\n-----Original Message-----\nFrom: Pod Support\n"
        "Sent: Tuesday\n\nOld text.\n"
    )
    files["38_reply_apple.eml"] = reply(
        "Great, thank you!\n\n"
        "> On 2 Jan 2024, at 10:00, Pod Support <support@pod.example> wrote:\n"
        ">\n> Your refund has been issued.\n"
    )
    files["39_reply_korean_gmail.eml"] = reply(
        "확인했습니다. 감사합니다.\n\n"
        "2024년 1월 2일 (화) 오전 10:00, 고객지원 <support@pod.example>님이 작성:\n\n"
        "> 환불이 처리되었습니다.\n"
    )
    files["40_reply_korean_apple.eml"] = reply(
        "네, 좋습니다.\n\n"
        "2024. 1. 2. 오전 10:00, 고객지원 <support@pod.example> 작성:\n\n"
        "> 배송이 시작되었습니다.\n"
    )
    files["41_reply_french.eml"] = reply(
        "Merci beaucoup.\n\n"
        "Le mar. 2 janv. 2024 à 10:00, Support <support@pod.example> a écrit :\n"
        "> Votre colis est parti.\n"
    )
    tricky = {
        "42_from_quoted_local_part.eml": '"a@pod.example"@evil.test',
        "43_from_display_address_mismatch.eml": "x@evil.test <y@pod.example>",
        "44_from_two_addresses.eml": "a@pod.example, b@evil.test",
        "45_from_encoded_word_at.eml": "=?utf-8?q?a=40pod.example?= <b@evil.test>",
        "46_from_comment_address.eml": "b@evil.test (a@pod.example)",
        "47_from_comment_benign.eml": "ann@example.com (Ann Lee)",
    }
    for name, sender in tricky.items():
        files[name] = utf8(
            header_block("Hello", sender, f"<{name[:2]}@example.com>")
            + plain("Sender test.\n")
        )
    files["48_from_duplicate_headers.eml"] = utf8(
        "From: Mallory <b@evil.test>\n"
        + header_block("Two senders", message_id="<m48@example.com>")
        + plain("Two From headers.\n")
    )
    files["49_header_100kb.eml"] = utf8(
        header_block(
            "Long " + "subject " * 12_500,
            message_id="<m49@example.com>",
            extra="X-Long: " + "x" * 100_000,
        )
        + plain("Huge headers.\n")
    )
    files["50_invalid_base64_body.eml"] = utf8(
        header_block("Broken base64", message_id="<m50@example.com>")
        # Stray characters and lost padding: decodable, with defects.
        + plain("SGVsbG8g!YnJva2Vu*IHdvcmxkCg", "utf-8", "base64")
    )
    files["51_read_receipt_mdn.eml"] = utf8(
        header_block(
            "Read: Your order",
            message_id="<m51@example.com>",
            extra="Content-Type: multipart/report;"
            ' report-type=disposition-notification; boundary="MDN"',
        )
        + "\n--MDN\n"
        + plain("Your message was read.\n")
        + "\n--MDN\nContent-Type: message/disposition-notification\n\n"
        + "Final-Recipient: rfc822; ann@example.com\n"
        + "Disposition: manual-action/MDN-sent-manually; displayed\n"
        + "\n--MDN--\n"
    )
    files["52_mbox_from_line.eml"] = utf8(
        "From ann@example.com Tue Jan  2 10:00:00 2024\n"
        + header_block("From an mbox", message_id="<m52@example.com>")
        + plain("Exported from an mbox file.\n")
    )
    files["53_forwarded_message_attachment.eml"] = attachment_mail(
        "Content-Type: message/rfc822\n"
        'Content-Disposition: attachment; filename="original.eml"\n\n'
        + header_block(
            "Invoice from the supplier",
            "Supplier <billing@supplier.example>",
            "<orig@supplier.example>",
        )
        + plain("Please pay invoice 77.\n"),
        subject="Fwd: Invoice from the supplier",
    )
    files["54_undisclosed_recipients.eml"] = utf8(
        header_block(
            "Hidden recipients",
            message_id="<m54@example.com>",
            to="undisclosed-recipients:;",
        )
        + "Cc: Bob <bob@Example.ORG>, not-an-address, Ann <ann@example.com>\n"
        + plain("Who got this?\n")
    )
    files["55_korean_euckr_declared_cp949_body.eml"] = utf8(
        header_block("EUC-KR label, CP949 bytes", message_id="<m55@example.kr>")
        + plain(b64("똠방각하 주문 건\n".encode("cp949")), "euc-kr", "base64")
    )
    return files


def main() -> None:
    for name, data in corpus().items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(corpus())} files to {HERE}")


if __name__ == "__main__":
    main()
