"""The pure @mention rules: which names a note mentions, and the note cut into
plain text and the mentions to highlight."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.rules import MAX_MENTIONS, NotePart, mention_handles, mention_parts


class TestMentionHandles:
    @pytest.mark.parametrize(
        ("text", "handles"),
        [
            ("@ana can you look?", ("ana",)),
            ("ask @ana.", ("ana",)),  # the dot ends the sentence
            ("(@ana, @bo.kim)", ("ana", "bo.kim")),
            ("cc @ana_lee-2 and @j+k", ("ana_lee-2", "j+k")),
            ("@민지 확인 부탁해요", ("민지",)),
            ("line one\n@ana line two", ("ana",)),
        ],
    )
    def test_finds_the_names_after_an_at(self, text, handles):
        assert mention_handles(text) == handles

    @pytest.mark.parametrize(
        "text",
        [
            "write to ann@example.com",  # an address, not a mention
            "a lone @ sign",
            "@@ana",
            "@... nothing",
            "x@ana",
        ],
    )
    def test_an_address_or_a_bare_at_is_no_mention(self, text):
        assert mention_handles(text) == ()

    def test_each_name_once_whatever_its_case_in_order_of_first_mention(self):
        assert mention_handles("@Bo @ana @bo @ANA @cy") == ("Bo", "ana", "cy")

    def test_at_most_the_limit(self):
        text = " ".join(f"@agent{n}" for n in range(MAX_MENTIONS + 5))

        assert len(mention_handles(text)) == MAX_MENTIONS

    @given(st.text())
    def test_never_fails_and_every_handle_is_in_the_text(self, text):
        for handle in mention_handles(text):
            assert f"@{handle}" in text


class TestMentionParts:
    def test_cuts_out_the_known_names_and_leaves_the_rest_as_text(self):
        parts = mention_parts("@ana and @Zed: ask @BO.", handles=["ana", "bo"])

        assert parts == (
            NotePart("@ana", mention=True),
            NotePart(" and @Zed: ask "),
            NotePart("@BO", mention=True),
            NotePart("."),
        )

    def test_without_known_names_the_text_is_one_part(self):
        assert mention_parts("hi @zed", handles=[]) == (NotePart("hi @zed"),)

    def test_an_address_is_never_cut(self):
        assert mention_parts("ann@ana.com", handles=["ana.com"]) == (
            NotePart("ann@ana.com"),
        )

    @given(st.text(), st.lists(st.text(min_size=1, max_size=10), max_size=3))
    def test_the_parts_join_back_into_the_text(self, text, handles):
        handles += list(mention_handles(text))[:2]

        parts = mention_parts(text, handles=handles)

        assert "".join(part.text for part in parts) == text
        assert all(part.text for part in parts)
