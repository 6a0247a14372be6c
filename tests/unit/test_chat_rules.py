"""The pure chat rules: what a visitor may send, the key that stores a message
once, which sites may open a chat, and the rate window."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.rules import (
    MAX_CHAT_TEXT,
    ChatLine,
    ChatLineInvalid,
    chat_dedupe_key,
    chat_line_check,
    chat_line_encode,
    chat_line_parse,
    chat_origin_allowed,
    chat_session_group,
    rate_window,
)

SESSION = "5f0c2a64-8c3e-4a55-9d1c-0d6f3f0e8a11"


class TestChatLineCheck:
    def test_keeps_the_text_without_surrounding_blank_space(self):
        line = chat_line_check(session=SESSION, client_id="c-1", text="  hello\n ")

        assert line == ChatLine(session=SESSION, client_id="c-1", text="hello")

    def test_accepts_exactly_the_limit(self):
        line = chat_line_check(
            session=SESSION, client_id="c1", text="x" * MAX_CHAT_TEXT
        )

        assert len(line.text) == MAX_CHAT_TEXT

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("", "empty"),
            (" \n\t ", "empty"),
            (None, "empty"),
            (42, "empty"),
            ("x" * (MAX_CHAT_TEXT + 1), "too_long"),
        ],
    )
    def test_refuses_empty_and_too_long_text(self, text, code):
        with pytest.raises(ChatLineInvalid) as refused:
            chat_line_check(session=SESSION, client_id="c1", text=text)

        assert refused.value.code == code

    def test_counts_characters_not_bytes(self):
        line = chat_line_check(
            session=SESSION, client_id="c1", text="한" * MAX_CHAT_TEXT
        )

        assert len(line.text.encode()) > MAX_CHAT_TEXT

    @pytest.mark.parametrize("client_id", [None, "", "a" * 65, "a b", "ü", 7, "<x>"])
    def test_refuses_a_client_id_the_widget_never_makes(self, client_id):
        with pytest.raises(ChatLineInvalid) as refused:
            chat_line_check(session=SESSION, client_id=client_id, text="hi")

        assert refused.value.code == "bad_client_id"


class TestChatLineEncoding:
    @given(text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
    def test_a_line_reads_back_as_stored(self, text):
        line = chat_line_check(session=SESSION, client_id="c1", text=text)

        assert chat_line_parse(chat_line_encode(line)) == line

    @pytest.mark.parametrize(
        "raw",
        [b"", b"\xff\xfe", b"[]", b'{"client_id": "c1", "text": "hi"}', b"{"],
    )
    def test_refuses_what_is_not_a_line(self, raw):
        with pytest.raises(ChatLineInvalid):
            chat_line_parse(raw)


class TestChatDedupeKey:
    def test_is_the_same_for_a_resend(self):
        first = chat_dedupe_key(session=SESSION, client_id="c1")

        assert first == chat_dedupe_key(session=SESSION, client_id="c1")
        assert len(first) == 64

    def test_differs_across_sessions_and_client_ids(self):
        keys = {
            chat_dedupe_key(session=SESSION, client_id="c1"),
            chat_dedupe_key(session=SESSION, client_id="c2"),
            chat_dedupe_key(session="other", client_id="c1"),
        }

        assert len(keys) == 3


class TestChatOriginAllowed:
    def test_the_helpdesk_itself_is_always_allowed(self):
        assert chat_origin_allowed(
            origin="https://help.example", host="help.example", allowed=[]
        )
        assert chat_origin_allowed(
            origin="http://127.0.0.1:8000", host="127.0.0.1:8000", allowed=[]
        )

    def test_another_site_only_when_listed_exactly(self):
        allowed = ["https://shop.example", "http://localhost:3000/"]

        assert chat_origin_allowed(
            origin="https://shop.example", host="help.example", allowed=allowed
        )
        assert chat_origin_allowed(
            origin="http://LOCALHOST:3000", host="help.example", allowed=allowed
        )
        assert not chat_origin_allowed(
            origin="http://shop.example", host="help.example", allowed=allowed
        )
        assert not chat_origin_allowed(
            origin="https://shop.example:8443", host="help.example", allowed=allowed
        )
        assert not chat_origin_allowed(
            origin="https://evil.shop.example", host="help.example", allowed=allowed
        )

    @pytest.mark.parametrize("origin", [None, "", "null", "file://", "ws://x"])
    def test_refuses_missing_and_opaque_origins(self, origin):
        assert not chat_origin_allowed(
            origin=origin, host="help.example", allowed=["https://shop.example"]
        )

    def test_a_star_allows_every_site(self):
        assert chat_origin_allowed(origin=None, host="help.example", allowed=["*"])
        assert chat_origin_allowed(
            origin="https://any.example", host="help.example", allowed=["*"]
        )


class TestRateWindow:
    def test_instants_of_one_window_share_it(self):
        assert rate_window(at=600.0, seconds=600).index == 1
        assert rate_window(at=1199.9, seconds=600).index == 1
        assert rate_window(at=1200.0, seconds=600).index == 2

    def test_retry_after_counts_whole_seconds_to_the_next_window(self):
        assert rate_window(at=600.0, seconds=600).retry_after == 600
        assert rate_window(at=1199.2, seconds=600).retry_after == 1
        assert rate_window(at=1000.5, seconds=600).retry_after == 200


def test_a_sessions_group_is_a_valid_channel_layer_group_name():
    group = chat_session_group(SESSION)

    assert group == f"chat.{SESSION}"
    assert len(group) < 100
