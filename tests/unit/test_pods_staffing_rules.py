"""Staffing figures of a pod (pods.rules): customers per agent, cost per
customer and progress to the split, checked against hand-computed values."""

from decimal import Decimal

from pods import rules


class TestCustomersPerAgent:
    def test_customers_over_agents_to_one_decimal(self):
        assert rules.customers_per_agent(customers=70_000, agents=9) == Decimal(
            "7777.8"
        )

    def test_a_pod_without_agents_has_no_ratio(self):
        assert rules.customers_per_agent(customers=10, agents=0) is None


class TestCostPerCustomer:
    def test_agents_times_monthly_cost_over_customers_to_the_cent(self):
        # 7 agents x 4,250.00 = 29,750.00 a month for 9,000 customers.
        cost = rules.cost_per_customer(
            agents=7, customers=9_000, agent_monthly_cost=Decimal("4250.00")
        )

        assert cost == Decimal("3.31")

    def test_rounds_half_up(self):
        # 1 x 0.05 / 2 = 0.025, half up to 0.03.
        assert rules.cost_per_customer(
            agents=1, customers=2, agent_monthly_cost=Decimal("0.05")
        ) == Decimal("0.03")

    def test_a_pod_without_customers_has_no_cost_per_customer(self):
        assert (
            rules.cost_per_customer(
                agents=3, customers=0, agent_monthly_cost=Decimal("4000")
            )
            is None
        )


class TestSplitProgress:
    def test_whole_percent_towards_the_threshold(self):
        assert rules.split_progress(customers=55_999, threshold=70_000) == 79
        assert rules.split_progress(customers=56_000, threshold=70_000) == 80
        assert rules.split_progress(customers=84_000, threshold=70_000) == 120
