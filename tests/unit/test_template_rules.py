"""The pure template rules: which variables a template uses, how it renders for
a ticket (values, markers for what is missing, no template engine), what staff
wrote that is not a plain placeholder, and what an edit changes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.rules import (
    TEMPLATE_VARIABLE_NAMES,
    DiffPart,
    template_diff,
    template_marker,
    template_placeholders_malformed,
    template_render,
    template_variables,
    template_variables_missing,
)

VALUES = {
    "customer.first_name": "Minji",
    "customer.name": "Minji Kim",
    "agent.first_name": "Oliver",
    "ticket.number": "42",
}


class TestTemplateVariables:
    def test_lists_each_name_once_in_order_of_first_use(self):
        body = "{{ agent.first_name }} {{ customer.first_name }} {{agent.first_name}}"

        assert template_variables(body) == ("agent.first_name", "customer.first_name")

    def test_tolerates_any_blank_space_and_case_inside_the_braces(self):
        body = "{{customer.first_name}} {{   Customer.First_Name\n}}"

        assert template_variables(body) == ("customer.first_name",)

    def test_ignores_what_is_not_a_placeholder(self):
        body = "{ customer.first_name } {{ x|upper }} {{ }} {% if a %}"

        assert template_variables(body) == ()


class TestTemplateRender:
    def test_fills_every_placeholder_with_its_value(self):
        body = (
            "Hi {{ customer.first_name }}, I'm {{agent.first_name}} #{{ticket.number}}"
        )

        text = template_render(body=body, variables=VALUES)

        assert text == "Hi Minji, I'm Oliver #42"

    def test_korean_template_greets_by_full_name(self):
        body = "{{ customer.name }}님, 안녕하세요! {{ agent.first_name }}입니다."

        text = template_render(body=body, variables=VALUES)

        assert text == "Minji Kim님, 안녕하세요! Oliver입니다."

    def test_unknown_variable_shows_as_a_visible_marker(self):
        body = "Your plan ends on {{ entitlement.ends_on }}."

        text = template_render(body=body, variables=VALUES)

        assert text == "Your plan ends on [entitlement.ends_on]."
        assert template_marker("entitlement.ends_on") in text

    def test_blank_value_counts_as_missing(self):
        body = "Hi {{ customer.first_name }},"

        text = template_render(body=body, variables={"customer.first_name": "  "})

        assert text == "Hi [customer.first_name],"

    def test_a_value_that_looks_like_a_placeholder_is_not_expanded(self):
        # A customer can name themselves anything; their name is data.
        variables = {**VALUES, "customer.first_name": "{{ agent.first_name }}"}

        text = template_render(body="Hi {{ customer.first_name }}", variables=variables)

        assert text == "Hi {{ agent.first_name }}"

    def test_no_template_engine_runs(self):
        body = (
            "{% load static %}{{ customer.first_name|upper }}{{ settings.SECRET_KEY }}"
        )

        text = template_render(body=body, variables=VALUES)

        assert (
            text
            == "{% load static %}{{ customer.first_name|upper }}[settings.secret_key]"
        )

    @given(st.text())
    def test_text_without_braces_comes_back_unchanged(self, body):
        body = body.replace("{", "")

        assert template_render(body=body, variables=VALUES) == body


class TestTemplateVariablesMissing:
    def test_names_unknown_and_blank_variables(self):
        body = "{{ customer.first_name }} {{ customer.last_name }} {{ pod.name }}"

        missing = template_variables_missing(
            body=body, variables={**VALUES, "customer.last_name": ""}
        )

        assert missing == ("customer.last_name", "pod.name")

    def test_nothing_missing_when_every_variable_has_a_value(self):
        assert (
            template_variables_missing(body="Hi {{ customer.name }}", variables=VALUES)
            == ()
        )

    def test_the_standard_names_are_plain_placeholders(self):
        body = " ".join(f"{{{{ {name} }}}}" for name in TEMPLATE_VARIABLE_NAMES)

        assert template_variables(body) == TEMPLATE_VARIABLE_NAMES
        assert template_placeholders_malformed(body) == ()


class TestTemplatePlaceholdersMalformed:
    @pytest.mark.parametrize(
        ("body", "malformed"),
        [
            (
                "Hi {{ customer.first_name|upper }}!",
                ("{{ customer.first_name|upper }}",),
            ),
            ("{% if vip %}Dear{% endif %}", ("{% if vip %}", "{% endif %}")),
            ("Hi {{ customer.first_name }", ("{{ customer.first_name }",)),
            ("Hi {{ }}", ("{{ }}",)),
            ("{{ customer.first_name() }}", ("{{ customer.first_name() }}",)),
        ],
    )
    def test_reports_syntax_that_is_not_a_plain_placeholder(self, body, malformed):
        assert template_placeholders_malformed(body) == malformed

    def test_a_placeholder_after_an_unclosed_brace_is_still_one(self):
        body = "{{ oops and {{ customer.first_name }}"

        assert template_placeholders_malformed(body) == ("{{ oops and",)
        assert template_variables(body) == ("customer.first_name",)

    def test_plain_text_and_single_braces_are_fine(self):
        body = "Hi {{ customer.first_name }}, your code is {ABC} :-}"

        assert template_placeholders_malformed(body) == ()

    def test_reports_a_long_mistake_shortened(self):
        body = "{{ " + "x" * 200

        (reported,) = template_placeholders_malformed(body)

        assert reported.startswith("{{ xxx")
        assert len(reported) == 40


class TestTemplateDiff:
    def test_marks_words_removed_and_added(self):
        parts = template_diff(
            old="Thanks for waiting.\nBest", new="Thank you for waiting!\nBest"
        )

        assert parts == (
            DiffPart(kind="delete", text="Thanks"),
            DiffPart(kind="insert", text="Thank you"),
            DiffPart(kind="equal", text=" for waiting"),
            DiffPart(kind="delete", text="."),
            DiffPart(kind="insert", text="!"),
            DiffPart(kind="equal", text="\nBest"),
        )

    def test_korean_words_diff_as_words(self):
        parts = template_diff(old="안녕하세요 고객님", new="안녕하세요 민지님")

        assert parts == (
            DiffPart(kind="equal", text="안녕하세요 "),
            DiffPart(kind="delete", text="고객님"),
            DiffPart(kind="insert", text="민지님"),
        )

    def test_same_text_is_one_equal_run(self):
        assert template_diff(old="Same", new="Same") == (DiffPart("equal", "Same"),)

    @given(st.text(max_size=200), st.text(max_size=200))
    def test_old_and_new_can_be_read_back_from_the_parts(self, old, new):
        parts = template_diff(old=old, new=new)

        assert "".join(p.text for p in parts if p.kind != "insert") == old
        assert "".join(p.text for p in parts if p.kind != "delete") == new
