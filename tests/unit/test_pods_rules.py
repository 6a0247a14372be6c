"""The pure rules of pods: identities, routing choices, split plans, proficiency.

No database: every input is passed in, so each rule is checked on its own, with
hypothesis for the properties a split must keep whatever the pod looks like."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pods import rules
from pods.rules import AgentLoad, Kpis, Member, PodLoad, ScoringPolicy

# --- Identities ------------------------------------------------------------------


class TestNormaliseIdentity:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("ann@example.com", "ann@example.com"),
            ("Ann.Lee@Example.COM", "ann.lee@example.com"),
            ("  ann@example.com\n", "ann@example.com"),
            ("ann+billing@mail.example.co.uk", "ann+billing@mail.example.co.uk"),
            ("o'brien@example.ie", "o'brien@example.ie"),
        ],
    )
    def test_lower_cases_a_plain_email(self, raw, expected):
        assert rules.normalise_identity("EMAIL", raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            '"a@x.com"@evil.test',  # quoted local part hiding a second address
            "x@evil.test <y@pod.example>",  # two addresses, one in angle brackets
            "Ann Lee <ann@example.com>",  # display name
            "<ann@example.com>",
            "ann@example.com, bob@example.com",
            "ann@example.com;bob@example.com",
            "ann@x@example.com",
            "ann@@example.com",
            "ann@example.com\r\nBcc: bob@example.com",
            "ann(comment)@example.com",
            "ann@[192.0.2.1]",
            "ann\\@example.com",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@.example.com",
            "ann@example..com",
            "ann@example.com.",
            "ann..lee@example.com",
            ".ann@example.com",
            "ann example.com",
            "ann@example.com/evil",
            "ann@example.com%evil.test",
            "ann@-example.com",
            "ann@example_1.com",
        ],
    )
    def test_refuses_anything_but_one_plain_address(self, raw):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity("EMAIL", raw)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("07700 900123", "+447700900123"),  # national form, default region GB
            ("+44 7700 900123", "+447700900123"),
            ("0044 (0)7700-900123", "+447700900123"),
            ("+1 (202) 555-0143", "+12025550143"),
        ],
    )
    def test_formats_phones_as_e164(self, raw, expected):
        assert rules.normalise_identity("PHONE", raw) == expected

    def test_reads_a_national_phone_in_the_default_region(self):
        assert (
            rules.normalise_identity("PHONE", "(202) 555-0143", default_region="US")
            == "+12025550143"
        )

    @pytest.mark.parametrize("raw", ["12", "call me", "+999 1234", "++44"])
    def test_refuses_what_cannot_be_a_phone(self, raw):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity("PHONE", raw)

    def test_lower_cases_a_social_handle_with_its_provider(self):
        assert (
            rules.normalise_identity("SOCIAL", "Twitter:@AnnLee") == "twitter:@annlee"
        )

    @pytest.mark.parametrize("raw", ["annlee", "twitter:", ":ann", "twitter:ann lee"])
    def test_refuses_a_social_handle_without_provider_or_with_spaces(self, raw):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity("SOCIAL", raw)

    @pytest.mark.parametrize("kind", ["CHAT", "ACCOUNT"])
    def test_keeps_chat_and_account_ids_as_given(self, kind):
        assert rules.normalise_identity(kind, " Visitor-AB12.x ") == "Visitor-AB12.x"

    @pytest.mark.parametrize("raw", ["acc 1", "a\nb", "<script>", "x" * 201])
    def test_refuses_opaque_ids_with_odd_characters_or_too_long(self, raw):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity("ACCOUNT", raw)

    @pytest.mark.parametrize(
        ("kind", "raw"),
        [("FAX", "123"), ("EMAIL", ""), ("EMAIL", "   "), ("EMAIL", None)],
    )
    def test_refuses_unknown_kinds_and_empty_values(self, kind, raw):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity(kind, raw)

    def test_refuses_a_value_longer_than_an_email_can_be(self):
        with pytest.raises(rules.InvalidIdentity):
            rules.normalise_identity("EMAIL", "a" * 310 + "@example.com")

    @given(st.emails())
    def test_a_normalised_email_normalises_to_itself(self, address):
        try:
            once = rules.normalise_identity("EMAIL", address)
        except rules.InvalidIdentity:
            return  # strictness may refuse exotic valid forms; never mangle them

        assert rules.normalise_identity("EMAIL", once) == once
        assert once == once.lower()
        assert once.count("@") == 1


# --- Routing --------------------------------------------------------------------


class TestChoosePodForNewCustomer:
    def test_chooses_the_fewest_customers_per_active_agent(self):
        pods = [
            PodLoad(pod_id=1, customers=100, active_agents=4),  # 25.25 after
            PodLoad(pod_id=2, customers=180, active_agents=8),  # 22.6 after
            PodLoad(pod_id=3, customers=50, active_agents=1),  # 51 after
        ]

        assert rules.choose_pod_for_new_customer(pods) == 2

    def test_chooses_an_unstaffed_pod_only_when_no_pod_is_staffed(self):
        staffed_and_not = [
            PodLoad(pod_id=1, customers=0, active_agents=0),
            PodLoad(pod_id=2, customers=900, active_agents=1),
        ]
        none_staffed = [
            PodLoad(pod_id=1, customers=7, active_agents=0),
            PodLoad(pod_id=2, customers=3, active_agents=0),
        ]

        assert rules.choose_pod_for_new_customer(staffed_and_not) == 2
        assert rules.choose_pod_for_new_customer(none_staffed) == 2

    def test_breaks_ties_by_fewer_customers_then_lowest_id(self):
        same_ratio = [
            PodLoad(pod_id=5, customers=19, active_agents=4),  # 5.0 after
            PodLoad(pod_id=4, customers=9, active_agents=2),  # 5.0 after
        ]
        identical = [
            PodLoad(pod_id=9, customers=10, active_agents=2),
            PodLoad(pod_id=3, customers=10, active_agents=2),
        ]

        assert rules.choose_pod_for_new_customer(same_ratio) == 4
        assert rules.choose_pod_for_new_customer(identical) == 3

    def test_returns_none_when_no_pod_is_open(self):
        assert rules.choose_pod_for_new_customer([]) is None

    def test_accepts_any_iterable_of_pods(self):
        unstaffed = (
            PodLoad(pod_id=pod_id, customers=customers, active_agents=0)
            for pod_id, customers in [(1, 5), (2, 3)]
        )

        assert rules.choose_pod_for_new_customer(unstaffed) == 2

    @given(
        st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=6),
        st.integers(min_value=1, max_value=600),
    )
    def test_spreads_customers_evenly_per_active_agent(self, staffing, arrivals):
        customers = [0] * len(staffing)
        for _ in range(arrivals):
            loads = [
                PodLoad(pod_id=index, customers=count, active_agents=agents)
                for index, (count, agents) in enumerate(
                    zip(customers, staffing, strict=True)
                )
            ]
            customers[rules.choose_pod_for_new_customer(loads)] += 1

        per_agent = [c / a for c, a in zip(customers, staffing, strict=True)]
        # Greedy by ratio after arrival: no pod is ever more than one customer
        # ahead of its fair share.
        assert max(per_agent) - min(per_agent) <= 1


def available(agent_id, *, open_tickets=0, capacity=8, rank=0):
    return AgentLoad(
        agent_id=agent_id,
        presence="ONLINE",
        open_tickets=open_tickets,
        capacity=capacity,
        last_assigned_rank=rank,
    )


class TestChooseAgent:
    def test_prefers_the_previous_agent_when_online_and_under_capacity(self):
        previous = available(7, open_tickets=7, capacity=8)
        members = [previous, available(1, open_tickets=0)]

        assert rules.choose_agent(previous=previous, members=members) == 7

    @pytest.mark.parametrize(
        "previous",
        [
            AgentLoad(agent_id=7, presence="AWAY", open_tickets=0, capacity=8),
            AgentLoad(agent_id=7, presence="OFFLINE", open_tickets=0, capacity=8),
            AgentLoad(agent_id=7, presence="ONLINE", open_tickets=8, capacity=8),
        ],
    )
    def test_falls_back_to_the_least_loaded_when_the_previous_cannot_take(
        self, previous
    ):
        members = [
            available(1, open_tickets=4, capacity=8),  # half full
            available(2, open_tickets=1, capacity=4),  # a quarter full
            available(3, open_tickets=2, capacity=4),  # half full
        ]

        assert rules.choose_agent(previous=previous, members=members) == 2

    def test_without_a_previous_agent_takes_the_least_loaded_ratio(self):
        members = [available(1, open_tickets=3, capacity=4), available(2, capacity=1)]

        assert rules.choose_agent(previous=None, members=members) == 2

    def test_breaks_ties_by_longest_since_assigned_then_id(self):
        by_rank = [available(1, rank=1), available(2, rank=0)]
        by_id = [available(6), available(5)]

        assert rules.choose_agent(previous=None, members=by_rank) == 2
        assert rules.choose_agent(previous=None, members=by_id) == 5

    def test_leaves_the_contact_in_the_queue_when_nobody_can_take_it(self):
        members = [
            available(1, open_tickets=8, capacity=8),
            AgentLoad(agent_id=2, presence="AWAY", open_tickets=0, capacity=8),
        ]

        assert rules.choose_agent(previous=None, members=members) is None
        assert rules.choose_agent(previous=None, members=[]) is None


# --- Splitting --------------------------------------------------------------------


def member(agent_id, *, tier="MIDDLE", rank=None, score="0.9", books=0, role="AGENT"):
    return Member(
        agent_id=agent_id,
        role=role,
        tier=tier,
        hired_rank=agent_id if rank is None else rank,
        score=Decimal(score),
        primary_customers=books,
    )


def tier_counts(division, members):
    tiers = {m.agent_id: m.tier for m in members}
    return (
        rules.tier_mix(tiers[a] for a in division.moving),
        rules.tier_mix(tiers[a] for a in division.staying),
    )


@st.composite
def pods_to_split(draw):
    size = draw(st.integers(min_value=2, max_value=16))
    members = [
        Member(
            agent_id=agent_id,
            role="AGENT",
            tier=draw(st.sampled_from(rules.TIERS)),
            hired_rank=draw(st.integers(min_value=0, max_value=5)),
            score=draw(st.decimals(min_value=0, max_value=2, places=3)),
            primary_customers=draw(st.integers(min_value=0, max_value=500)),
        )
        for agent_id in range(1, size + 1)
    ]
    lead_id = draw(st.sampled_from([None, *(m.agent_id for m in members)]))
    return members, lead_id


class TestDivideMembers:
    def test_makes_the_most_senior_member_who_is_not_the_lead_the_new_lead(self):
        members = [
            member(1, rank=0, role="LEAD"),
            member(2, rank=2),
            member(3, rank=1),
            member(4, rank=3),
        ]

        division = rules.divide_members(members=members, lead_id=1)

        assert division.new_lead_id == 3
        assert division.new_lead_id in division.moving
        assert 1 in division.staying

    def test_breaks_a_seniority_tie_by_higher_proficiency(self):
        members = [
            member(1, rank=0, role="LEAD"),
            member(2, rank=1, score="0.850"),
            member(3, rank=1, score="1.100"),
            member(4, rank=2, score="1.200"),
        ]

        division = rules.divide_members(members=members, lead_id=1)

        assert division.new_lead_id == 3

    def test_balances_the_tier_mix_when_lead_and_new_lead_differ_in_tier(self):
        members = [
            member(1, tier="MIDDLE", rank=0, books=5, role="LEAD"),
            member(2, tier="LOW", rank=1),
            member(3, tier="HIGH", rank=2),
            member(4, tier="MIDDLE", rank=3),
        ]

        division = rules.divide_members(members=members, lead_id=1)
        moving, staying = tier_counts(division, members)

        assert all(abs(moving[t] - staying[t]) <= 1 for t in rules.TIERS)
        assert abs(len(division.moving) - len(division.staying)) <= 1

    def test_sends_big_books_to_opposite_sides(self):
        members = [
            member(1, rank=0, role="LEAD"),
            member(2, rank=1),
            member(3, rank=2, books=300),
            member(4, rank=3, books=200),
        ]

        division = rules.divide_members(members=members, lead_id=1)

        assert {3, 4} & set(division.moving)
        assert {3, 4} & set(division.staying)

    def test_refuses_a_pod_of_one(self):
        with pytest.raises(rules.CannotSplit):
            rules.divide_members(members=[member(1, role="LEAD")], lead_id=1)

    @given(pods_to_split())
    def test_divides_everyone_once_into_halves_with_a_balanced_tier_mix(self, pod):
        members, lead_id = pod

        division = rules.divide_members(members=members, lead_id=lead_id)

        moving, staying = set(division.moving), set(division.staying)
        assert moving | staying == {m.agent_id for m in members}
        assert not moving & staying
        assert len(division.moving) + len(division.staying) == len(members)
        assert abs(len(moving) - len(staying)) <= 1
        mix_moving, mix_staying = tier_counts(division, members)
        assert all(abs(mix_moving[t] - mix_staying[t]) <= 1 for t in rules.TIERS)
        assert division.new_lead_id in moving
        if lead_id is not None:
            assert lead_id in staying

    @given(pods_to_split())
    def test_the_new_lead_is_the_most_senior_non_lead_then_the_most_proficient(
        self, pod
    ):
        members, lead_id = pod

        division = rules.divide_members(members=members, lead_id=lead_id)

        others = [m for m in members if m.agent_id != lead_id]
        senior = min(m.hired_rank for m in others)
        best = max(m.score for m in others if m.hired_rank == senior)
        chosen = next(m for m in members if m.agent_id == division.new_lead_id)
        assert chosen.agent_id != lead_id
        assert (chosen.hired_rank, chosen.score) == (senior, best)


class TestDivideCustomers:
    def test_followers_of_moving_agents_go_first_then_the_unowned(self):
        division = rules.divide_customers(
            total=100, follow_moving=30, unowned=40, follow_staying=30
        )

        assert (division.followers_moving, division.unowned) == (30, 20)
        assert division.followers_staying == 0
        assert division.moved_total == 50

    def test_moves_customers_of_staying_agents_only_when_the_rest_fall_short(self):
        division = rules.divide_customers(
            total=101, follow_moving=10, unowned=5, follow_staying=86
        )

        assert (division.followers_moving, division.unowned) == (10, 5)
        assert division.followers_staying == 35
        assert division.moved_total == 50

    def test_keeps_some_followers_behind_when_they_are_more_than_half(self):
        division = rules.divide_customers(
            total=10, follow_moving=8, unowned=1, follow_staying=1
        )

        assert division.followers_moving == 5
        assert division.moved_total == 5

    def test_refuses_categories_that_do_not_add_up(self):
        with pytest.raises(ValueError, match="add up"):
            rules.divide_customers(
                total=10, follow_moving=3, unowned=3, follow_staying=3
            )

    @given(
        st.integers(min_value=0, max_value=100_000),
        st.integers(min_value=0, max_value=100_000),
        st.integers(min_value=0, max_value=100_000),
    )
    def test_moves_exactly_half_taking_followers_first(
        self, follow_moving, unowned, follow_staying
    ):
        total = follow_moving + unowned + follow_staying

        division = rules.divide_customers(
            total=total,
            follow_moving=follow_moving,
            unowned=unowned,
            follow_staying=follow_staying,
        )

        staying = total - division.moved_total
        assert division.moved_total == total // 2 == division.target
        assert staying - division.moved_total in (0, 1)
        assert 0 <= division.followers_moving <= follow_moving
        assert 0 <= division.unowned <= unowned
        assert 0 <= division.followers_staying <= follow_staying
        assert division.followers_moving == min(follow_moving, total // 2)
        if division.unowned < unowned:
            assert division.followers_staying == 0
        if division.followers_staying:
            assert division.followers_moving == follow_moving
            assert division.unowned == unowned


class TestSeatsToOpen:
    @pytest.mark.parametrize(
        ("target_size", "members", "open_seats", "expected"),
        [(10, 5, 0, 5), (10, 5, 2, 3), (10, 10, 0, 0), (10, 12, 0, 0), (10, 4, 9, 0)],
    )
    def test_opens_seats_up_to_the_target_size(
        self, target_size, members, open_seats, expected
    ):
        assert (
            rules.seats_to_open(
                target_size=target_size, members=members, open_seats=open_seats
            )
            == expected
        )


class TestSplitIsDue:
    @pytest.mark.parametrize(
        ("customers", "due"), [(69_999, False), (70_000, True), (70_001, True)]
    )
    def test_is_due_from_the_threshold_on(self, customers, due):
        assert rules.split_is_due(customers=customers, threshold=70_000) is due


class TestTierMix:
    def test_counts_every_tier_even_when_absent(self):
        assert rules.tier_mix(["HIGH", "HIGH", "LOW"]) == {
            "LOW": 1,
            "MIDDLE": 0,
            "HIGH": 2,
        }


# --- Proficiency ----------------------------------------------------------------

POLICY = ScoringPolicy(
    contacts_per_day=(Decimal(40), Decimal("0.30")),
    handle_minutes=(Decimal(8), Decimal("0.20")),
    csat=(Decimal("4.50"), Decimal("0.30")),
    one_touch=(Decimal("0.700"), Decimal("0.20")),
    cap=Decimal("1.20"),
    middle_from=Decimal("0.800"),
    high_from=Decimal("1.000"),
)


def kpis(contacts="40", handle="8", csat="4.5", one_touch="0.7"):
    return Kpis(
        contacts_per_day=Decimal(contacts),
        handle_minutes=None if handle is None else Decimal(handle),
        csat=None if csat is None else Decimal(csat),
        one_touch_rate=None if one_touch is None else Decimal(one_touch),
    )


class TestProficiencyScore:
    def test_scores_one_when_every_kpi_meets_its_target(self):
        assert rules.proficiency_score(kpis(), POLICY) == Decimal("1.000")

    def test_weights_each_kpi_against_its_target(self):
        # contacts 20/40 = 0.5 (w .3), handle 8/8 = 1 (w .2), csat 4.5/4.5 = 1
        # (w .3), one-touch 0.35/0.7 = 0.5 (w .2): (0.15+0.2+0.3+0.1) / 1.0
        score = rules.proficiency_score(kpis(contacts="20", one_touch="0.35"), POLICY)

        assert score == Decimal("0.750")

    def test_rewards_a_shorter_handle_time_and_punishes_a_longer_one(self):
        faster = rules.proficiency_score(kpis(handle="6.4"), POLICY)  # 8/6.4 = 1.25
        slower = rules.proficiency_score(kpis(handle="16"), POLICY)  # 8/16 = 0.5

        assert faster == Decimal("1.040")  # 1.25 capped at 1.2: 0.8 + 0.2 * 1.2
        assert slower == Decimal("0.900")  # 0.8 + 0.2 * 0.5

    def test_caps_each_kpi_so_one_cannot_carry_the_rest(self):
        score = rules.proficiency_score(
            kpis(contacts="400", handle="0", csat="0", one_touch="0"), POLICY
        )

        # contacts and handle time capped at 1.2: (0.36 + 0.24) / 1.0
        assert score == Decimal("0.600")

    def test_leaves_out_a_missing_kpi_and_reweights_the_rest(self):
        without_csat = rules.proficiency_score(
            kpis(contacts="20", csat=None), POLICY
        )  # (0.5*0.3 + 1*0.2 + 1*0.2) / 0.7

        assert without_csat == Decimal("0.786")

    def test_scores_zero_when_no_weight_is_left(self):
        weightless = ScoringPolicy(
            contacts_per_day=(Decimal(40), Decimal(0)),
            handle_minutes=(Decimal(8), Decimal(0)),
            csat=(Decimal("4.5"), Decimal(0)),
            one_touch=(Decimal("0.7"), Decimal(0)),
            cap=Decimal("1.2"),
            middle_from=Decimal("0.8"),
            high_from=Decimal("1"),
        )

        assert rules.proficiency_score(kpis(), weightless) == Decimal("0.000")

    @given(
        st.decimals(min_value=0, max_value=1000, places=2),
        st.one_of(st.none(), st.decimals(min_value=0, max_value=600, places=2)),
        st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=2)),
        st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=3)),
    )
    def test_stays_between_zero_and_the_cap(self, contacts, handle, csat, one_touch):
        score = rules.proficiency_score(
            Kpis(
                contacts_per_day=contacts,
                handle_minutes=handle,
                csat=csat,
                one_touch_rate=one_touch,
            ),
            POLICY,
        )

        assert Decimal(0) <= score <= POLICY.cap


class TestProficiencyTier:
    @pytest.mark.parametrize(
        ("score", "tier"),
        [
            ("0.000", "LOW"),
            ("0.799", "LOW"),
            ("0.800", "MIDDLE"),
            ("0.999", "MIDDLE"),
            ("1.000", "HIGH"),
            ("1.200", "HIGH"),
        ],
    )
    def test_places_the_score_between_the_policy_thresholds(self, score, tier):
        assert rules.proficiency_tier(Decimal(score), POLICY) == tier
