"""Add what the pod dashboards read to the workspace volume, in bulk SQL.

On top of tests/performance/tickets_volume.py (4 million tickets with their
conversations), this adds, in realistic proportions and consistent with the
tickets they belong to:

- reopens: `reopened_count` 1 on a further REOPEN_EXTRA of the solved tickets
  (the generator reopened about 3%; together about 5%);
- satisfaction surveys: one per solve for SURVEY_ANSWERED of the solved tickets
  (answered within four days, rated 1..5 with a per-agent tilt and a lower
  rating after a reopen), and the unanswered ones of the last
  UNANSWERED_DAYS days, each with the ticket's pod and assignee;
- reply templates: per pod one per contact reason and a few general ones, plus
  organisation-wide ones, each with its first version; then template uses on
  TEMPLATE_SHARE of the agents' replies (the pod's template for the ticket's
  reason mostly, a general one otherwise), and the templates' counters (uses,
  last use, answers and their ratings' sum) computed from those rows;
- the authority funnel: three action types (refund, account credit, payment
  extension in days) with rules at stages 3, 2 and 1 (per-pod monthly budgets
  at stage 2); for GRANT_SHARE of the tickets solved in the last year a request
  by the assignee (stage 2), by the customer (stage 3) or for approval (stage
  1: approved by the pod's lead, or denied), some refused; approvals still
  waiting on open tickets; a few reversals; the ledger entries of money moved
  and the usage counters (per customer, per agent and day, per pod and month)
  summed from the grants. Audit events and webhooks are not made.

Everything is INSERT ... SELECT (or UPDATE) from the tickets, drawn from md5 of
the row's id and the seed, relative to the tickets volume's own `now`: the same
database gets the same rows. Each step runs in one transaction and is recorded
in STATE_TABLE when done, so an interrupted run resumes at the next step and a
finished one is not redone.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction

from tests.performance import tickets_volume

STATE_TABLE = "bench_dashboard_volume"
REOPEN_EXTRA = 0.021
SURVEY_ANSWERED = 0.25
UNANSWERED_DAYS = 30
TEMPLATE_SHARE = 0.30
# Of a templated reply on a ticket with a contact reason: the reason's template.
REASON_TEMPLATE_SHARE = 0.75
GRANT_SHARE = 0.15
GRANT_DAYS = 365
REVERSAL_SHARE = 0.015
PENDING_SHARE = 0.05  # of the open assigned tickets: an approval waiting
IDEMPOTENCY_PREFIX = "bench-dashboard-"
GENERAL_TEMPLATES = (
    ("Greeting", "Hello, and thank you for getting in touch. I am looking into it."),
    ("Asking for details", "Could you send me your order number and a photo?"),
    ("Closing", "I am glad that is sorted. Have a lovely day!"),
)
SHARED_TEMPLATES = (
    ("Opening hours", "We are here every day from 8 to 20, holidays included."),
    ("Thanks for waiting", "Thank you for your patience while we checked."),
    ("Passed to specialists", "I have passed this to our specialists."),
    ("Data request", "We have your data request and answer within 30 days."),
    ("Password reset", "Use 'Forgot password' on the sign-in page for a link."),
)
M = Decimal
# code, name, unit, currency, effect; rules per stage: (stage, limits)
ACTIONS = (
    (
        "refund",
        "Refund",
        "MONEY",
        "GBP",
        "REFUND",
        (
            (3, {"max_per_grant": M(10), "customer_period_days": 90,
                 "customer_max_count": 1}),
            (2, {"max_per_grant": M(50), "agent_daily_total": M(300),
                 "pod_monthly_total": M(15_000)}),
            (1, {"max_per_grant": M(500)}),
        ),
    ),
    (
        "account-credit",
        "Account credit",
        "MONEY",
        "GBP",
        "CREDIT",
        (
            (3, {"max_per_grant": M(5), "customer_period_days": 90,
                 "customer_max_count": 1}),
            (2, {"max_per_grant": M(30), "pod_monthly_total": M(6_000)}),
            (1, {"max_per_grant": M(200)}),
        ),
    ),
    (
        "payment-extension",
        "Payment extension",
        "DAYS",
        "",
        "RECORD",
        (
            (3, {"max_per_grant": M(3), "customer_period_days": 90,
                 "customer_max_count": 1}),
            (2, {"max_per_grant": M(14)}),
            (1, {"max_per_grant": M(60)}),
        ),
    ),
)  # fmt: skip
STEPS = ("reopens", "surveys", "templates", "template_uses", "authority")


def volume_augment(*, seed: int, say: Callable[[str], None]) -> dict:
    """Run the steps not done yet; return {step: {"seconds", ...}} of those run
    (and {"done": True} for the others)."""
    state_ensure()
    done = steps_done()
    now = volume_now()
    skip_triggers = tickets_volume._triggers_skippable()
    made: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute(RANDOM_FUNCTION)
    for step in STEPS:
        if step in done:
            made[step] = {"done": True}
            continue
        say(f"dashboard data: {step}")
        started = time.perf_counter()
        with transaction.atomic():
            _bulk_session(skip_triggers=skip_triggers)
            rows = STEP_FUNCTIONS[step](seed=seed, now=now)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {STATE_TABLE} (step, rows, seconds)"  # noqa: S608
                    " VALUES (%s, %s, %s)",
                    [step, rows, round(time.perf_counter() - started, 1)],
                )
        made[step] = {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}
        say(f"  {step}: {rows:,} rows in {made[step]['seconds']} s")
    if any("rows" in step for step in made.values()):
        started = time.perf_counter()
        made["broken_references"] = references_check()
        if any(made["broken_references"].values()):
            raise RuntimeError(f"broken references: {made['broken_references']}")
        made["references_check_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table in ANALYSED:
                cursor.execute(f"ANALYZE {table}")
        made["analyze_seconds"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("RESET work_mem")
    return made


def _bulk_session(*, skip_triggers: bool) -> None:
    with connection.cursor() as cursor:
        if skip_triggers:
            # The deferred foreign keys would be checked one row at a time at
            # commit (minutes for a million rows): the rows are made from rows
            # read in the same statement, and references_check looks in bulk.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")


REFERENCES = (
    ("tickets_satisfactionsurvey", "ticket_id", "tickets_ticket"),
    ("tickets_satisfactionsurvey", "agent_id", "pods_agent"),
    ("tickets_satisfactionsurvey", "pod_id", "pods_pod"),
    ("tickets_templateuse", "message_id", "tickets_message"),
    ("tickets_templateuse", "ticket_id", "tickets_ticket"),
    ("tickets_templateuse", "template_id", "tickets_replytemplate"),
    ("tickets_templateuse", "agent_id", "pods_agent"),
    ("tickets_replytemplateversion", "template_id", "tickets_replytemplate"),
    ("authority_authorityrequest", "ticket_id", "tickets_ticket"),
    ("authority_authorityrequest", "customer_id", "pods_customer"),
    ("authority_authorityrequest", "agent_id", "pods_agent"),
    ("authority_authorityrequest", "rule_id", "authority_authorityrule"),
    ("authority_approvaldecision", "request_id", "authority_authorityrequest"),
    ("authority_approvaldecision", "approver_id", "auth_user"),
    ("authority_grant", "request_id", "authority_authorityrequest"),
    ("authority_grant", "reverses_id", "authority_grant"),
    ("authority_grant", "ticket_id", "tickets_ticket"),
    ("authority_grant", "customer_id", "pods_customer"),
    ("authority_grant", "agent_id", "pods_agent"),
    ("authority_grant", "approved_by_id", "auth_user"),
    ("authority_grant", "rule_id", "authority_authorityrule"),
    ("authority_ledgerentry", "grant_id", "authority_grant"),
)


def references_check() -> dict[str, int]:
    """Rows whose reference finds nothing, per reference (all zero when sound)."""
    broken = {}
    with connection.cursor() as cursor:
        for table, column, target in REFERENCES:
            cursor.execute(
                f"SELECT count(*) FROM {table} r WHERE r.{column} IS NOT NULL"  # noqa: S608
                f" AND NOT EXISTS (SELECT 1 FROM {target} x WHERE x.id = r.{column})"
            )
            broken[f"{table}.{column}"] = cursor.fetchone()[0]
    return broken


ANALYSED = (
    "tickets_ticket",
    "tickets_satisfactionsurvey",
    "tickets_replytemplate",
    "tickets_templateuse",
    "authority_authorityrequest",
    "authority_approvaldecision",
    "authority_grant",
    "authority_ledgerentry",
    "authority_usagecounter",
)
# Uniform in [0, 1) from a text key: the same key, the same number.
RANDOM_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.bench_u(key text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('x' || substr(md5(key), 1, 8))::bit(32)::bigint / 4294967296.0 $$
"""


def state_ensure() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
            " step text PRIMARY KEY, rows bigint NOT NULL,"
            " seconds double precision NOT NULL,"
            " done_at timestamptz NOT NULL DEFAULT now())"
        )


def steps_done() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT step FROM {STATE_TABLE}")  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


def volume_now() -> datetime:
    """The tickets volume's own `now`: its data ends there."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT now FROM {tickets_volume.VOLUME_TABLE}"  # noqa: S608
            " WHERE finished"
        )
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the tickets volume is not there (or not finished)")
    return datetime.fromtimestamp(row[0], tz=UTC)


def _u(expression: str, salt: str, seed: int) -> str:
    """SQL of a uniform number drawn from a row's key."""
    return f"pg_temp.bench_u({expression} || ':{salt}:{int(seed)}')"


# --- Steps ---------------------------------------------------------------------------


def reopens_add(*, seed: int, now: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tickets_ticket SET reopened_count = 1"  # noqa: S608
            " WHERE solved_at IS NOT NULL AND reopened_count = 0"
            f" AND {_u('id', 'reopen', seed)} < %s",
            [REOPEN_EXTRA],
        )
        return cursor.rowcount


def surveys_add(*, seed: int, now: datetime) -> int:
    """One survey per solve: answered for SURVEY_ANSWERED of the solved tickets
    (when the answer's time is not past `now`), unanswered for the rest of the
    last UNANSWERED_DAYS days. The rating leans by agent and after a reopen."""
    answered_at = (
        "s.sent_at + interval '2 minutes'"
        f" + ({_u('s.id', 'delay', seed)} ^ 3) * interval '96 hours'"
    )
    tilt = "mod(s.assignee_id * 7919, 100) / 100.0 * 0.16 - 0.08"
    score = (
        f"{_u('s.id', 'rating', seed)} + {tilt}"
        " - CASE WHEN s.reopened_count > 0 THEN 0.2 ELSE 0 END"
    )
    sql = f"""
    INSERT INTO tickets_satisfactionsurvey
        (solved_at, token, channel, sent_at, expires_at, rating, comment,
         answered_at, agent_id, pod_id, ticket_id)
    SELECT a.solved_at, a.token, a.channel, a.sent_at,
           a.sent_at + interval '14 days',
           CASE WHEN a.answered THEN a.rating END,
           CASE WHEN a.answered AND a.rating <= 2 AND mod(a.id, 3) = 0
                THEN 'It took far too long to get an answer.' ELSE '' END,
           CASE WHEN a.answered THEN a.answered_at END,
           a.assignee_id, a.pod_id, a.id
    FROM (
        SELECT s.*,
               {_u("s.id", "survey", seed)} < %(answered)s
                   AND {answered_at} <= %(now)s AS answered,
               {answered_at} AS answered_at,
               CASE WHEN sc < 0.08 THEN 1 WHEN sc < 0.13 THEN 2
                    WHEN sc < 0.22 THEN 3 WHEN sc < 0.45 THEN 4 ELSE 5 END
                   AS rating
        FROM (
            SELECT t.id, t.solved_at, t.assignee_id, t.pod_id, t.reopened_count,
                   t.solved_at + interval '10 minutes' AS sent_at,
                   md5(t.id || ':token:{int(seed)}')
                       || md5(t.id || ':token2:{int(seed)}') AS token,
                   CASE WHEN t.channel IN ('SMS', 'SOCIAL', 'CHAT') THEN t.channel
                        ELSE 'EMAIL' END AS channel
            FROM tickets_ticket t
            WHERE t.solved_at IS NOT NULL AND t.solved_at <= %(now)s
              AND t.assignee_id IS NOT NULL
        ) s, LATERAL (SELECT {score} AS sc) x
    ) a
    WHERE a.answered OR a.solved_at > %(recent)s
    """  # noqa: S608 (numbers and the seed, no input)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "answered": SURVEY_ANSWERED,
                "now": now,
                "recent": now - timedelta(days=UNANSWERED_DAYS),
            },
        )
        return cursor.rowcount


def templates_add(*, seed: int, now: datetime) -> int:
    """Per pod a template per contact reason (its answer text from the tickets
    volume) and the general ones; the shared ones (no pod); first versions."""
    created = now - timedelta(days=900)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, name FROM tickets_contactreason ORDER BY id")
        reasons = cursor.fetchall()
        cursor.execute("SELECT id FROM pods_pod ORDER BY id")
        pods = [row[0] for row in cursor.fetchall()]
        rows = []
        for pod_id in pods:
            for _reason_id, name in reasons:
                answer = tickets_volume.REASONS.get(name, (name, "", name))[2]
                rows.append((f"{name}: answer", answer, pod_id))
            rows.extend((title, body, pod_id) for title, body in GENERAL_TEMPLATES)
        rows.extend((title, body, None) for title, body in SHARED_TEMPLATES)
        cursor.executemany(
            "INSERT INTO tickets_replytemplate (title, body, language, active,"
            " version, use_count, created_at, updated_at, pod_id, last_used_at,"
            " rated_count, rating_sum)"
            " VALUES (%s, %s, 'en', true, 1, 0, %s, %s, %s, NULL, 0, 0)",
            [(title, body, created, created, pod_id) for title, body, pod_id in rows],
        )
        cursor.execute(
            "INSERT INTO tickets_replytemplateversion"
            " (version, title, body, created_at, created_by_id, template_id)"
            " SELECT 1, title, body, created_at, NULL, id FROM tickets_replytemplate"
        )
    return len(rows)


TEMPLATE_MAP_SQL = """
CREATE TEMP TABLE bench_template_map ON COMMIT DROP AS
SELECT rt.pod_id, cr.id AS reason_id, 0 AS slot, rt.id AS template_id
FROM tickets_replytemplate rt
JOIN tickets_contactreason cr ON rt.title = cr.name || ': answer'
WHERE rt.pod_id IS NOT NULL
UNION ALL
SELECT p.id, 0, (row_number() OVER (PARTITION BY p.id ORDER BY rt.pod_id, rt.id)
                 - 1)::int, rt.id
FROM pods_pod p
JOIN tickets_replytemplate rt ON rt.pod_id = p.id OR rt.pod_id IS NULL
WHERE right(rt.title, 8) <> ': answer'
"""


def template_uses_add(*, seed: int, now: datetime) -> int:
    """TemplateUse rows for TEMPLATE_SHARE of the agents' replies, then the
    templates' counters from them (and from the answered surveys)."""
    general = len(GENERAL_TEMPLATES) + len(SHARED_TEMPLATES)
    reason_used = (
        "(t.contact_reason_id IS NOT NULL"
        f" AND {_u('m.id', 'tplreason', seed)} < {REASON_TEMPLATE_SHARE})"
    )
    with connection.cursor() as cursor:
        cursor.execute(TEMPLATE_MAP_SQL)
        cursor.execute(
            f"""
            INSERT INTO tickets_templateuse
                (version, used_at, agent_id, message_id, template_id, ticket_id)
            SELECT 1, m.created_at, m.author_agent_id, m.id, tm.template_id,
                   m.ticket_id
            FROM tickets_message m
            JOIN tickets_ticket t ON t.id = m.ticket_id
            JOIN bench_template_map tm ON tm.pod_id = t.pod_id
             AND tm.reason_id = CASE WHEN {reason_used}
                                     THEN t.contact_reason_id ELSE 0 END
             AND tm.slot = CASE WHEN {reason_used} THEN 0
                                ELSE floor({_u("m.id", "tplslot", seed)}
                                           * {general})::int END
            WHERE m.direction = 'OUTBOUND' AND m.author_agent_id IS NOT NULL
              AND m.created_at <= %s
              AND {_u("m.id", "template", seed)} < %s
            """,  # noqa: S608
            [now, TEMPLATE_SHARE],
        )
        uses = cursor.rowcount
        cursor.execute(
            """
            UPDATE tickets_replytemplate rt
            SET use_count = u.uses, last_used_at = u.last_used
            FROM (SELECT template_id, count(*) AS uses, max(used_at) AS last_used
                  FROM tickets_templateuse GROUP BY template_id) u
            WHERE rt.id = u.template_id
            """
        )
        # Every answer counts once for each template used on its ticket
        # before the solve it rates (tickets.services.template_ratings_count).
        cursor.execute(
            """
            UPDATE tickets_replytemplate rt
            SET rated_count = r.rated, rating_sum = r.rating_sum
            FROM (SELECT u.template_id, count(*) AS rated, sum(s.rating) AS rating_sum
                  FROM (SELECT DISTINCT template_id, ticket_id, min(used_at) AS first
                        FROM tickets_templateuse GROUP BY template_id, ticket_id) u
                  JOIN tickets_satisfactionsurvey s ON s.ticket_id = u.ticket_id
                   AND s.rating IS NOT NULL AND u.first <= s.solved_at
                  GROUP BY u.template_id) r
            WHERE rt.id = r.template_id
            """
        )
    return uses


def authority_add(*, seed: int, now: datetime) -> int:
    """Action types and rules (through the service, as an admin would), then
    requests, decisions, grants, reversals, ledger and usage in SQL."""
    actions_ensure(now=now)
    with connection.cursor() as cursor:
        for statement in authority_statements(seed=seed):
            cursor.execute(statement, authority_parameters(now))
        cursor.execute(
            "SELECT count(*) FROM authority_grant g JOIN authority_authorityrequest r"
            " ON r.id = g.request_id WHERE r.idempotency_key LIKE %s",
            [IDEMPOTENCY_PREFIX + "%"],
        )
        return cursor.fetchone()[0]


def authority_parameters(now: datetime) -> dict:
    return {
        "now": now,
        "since": now - timedelta(days=GRANT_DAYS),
        "grant_share": GRANT_SHARE,
        "pending_share": PENDING_SHARE,
        "reversal_share": REVERSAL_SHARE,
        "prefix": IDEMPOTENCY_PREFIX,
        "prefix_like": IDEMPOTENCY_PREFIX + "%",
    }


def actions_ensure(*, now: datetime) -> None:
    import authority.services
    from authority.models import ActionType

    start = now - timedelta(days=GRANT_DAYS + 60)
    for code, name, unit, currency, effect, by_stage in ACTIONS:
        action, created = ActionType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "currency": currency,
                "effect": effect,
                "created_at": start,
            },
        )
        if not created:
            continue
        for stage, limits in by_stage:
            authority.services.rule_create(
                terms={
                    "name": f"{name} stage {stage}",
                    "action_type": action,
                    "stage": stage,
                    "valid_from": start,
                    **limits,
                },
                user=None,
                note="benchmark",
                now=start,
            )


def authority_statements(*, seed: int) -> list[str]:
    u = _u
    amount = """
        CASE a.code
          WHEN 'refund' THEN CASE p.stage WHEN 3 THEN 1 + 9 * p.u_amount
              WHEN 2 THEN 5 + 45 * p.u_amount ELSE 60 + 240 * p.u_amount END
          WHEN 'account-credit' THEN CASE p.stage WHEN 3 THEN 1 + 4 * p.u_amount
              WHEN 2 THEN 2 + 28 * p.u_amount ELSE 35 + 115 * p.u_amount END
          ELSE floor(CASE p.stage WHEN 3 THEN 1 + 3 * p.u_amount
              WHEN 2 THEN 4 + 10 * p.u_amount ELSE 15 + 30 * p.u_amount END)
        END"""
    return [
        # One row per action: its id, currency and current rule per stage.
        """
        CREATE TEMP TABLE bench_actions ON COMMIT DROP AS
        SELECT a.id, a.code, a.currency, a.effect,
               row_number() OVER (ORDER BY a.code) AS position,
               max(r.id) FILTER (WHERE r.stage = 1) AS rule1,
               max(r.id) FILTER (WHERE r.stage = 2) AS rule2,
               max(r.id) FILTER (WHERE r.stage = 3) AS rule3
        FROM authority_actiontype a
        JOIN authority_authorityrule r ON r.action_type_id = a.id
         AND r.superseded_at IS NULL
        WHERE a.code IN ('refund', 'account-credit', 'payment-extension')
        GROUP BY a.id, a.code, a.currency, a.effect
        """,
        # The asks: on tickets solved in the last year (stage 2 by the
        # assignee, 3 by the customer, 1 for approval), and approvals waiting
        # on open tickets.
        f"""
        CREATE TEMP TABLE bench_asks ON COMMIT DROP AS
        SELECT t.id AS ticket_id, t.customer_id, t.pod_id, t.assignee_id AS agent_id,
               t.created_at, t.solved_at,
               CASE WHEN {u("t.id", "stage", seed)} < 0.6 THEN 2
                    WHEN {u("t.id", "stage", seed)} < 0.8 THEN 3 ELSE 1 END AS stage,
               CASE WHEN {u("t.id", "action", seed)} < 0.5 THEN 'refund'
                    WHEN {u("t.id", "action", seed)} < 0.8 THEN 'account-credit'
                    ELSE 'payment-extension' END AS code,
               {u("t.id", "amount", seed)} AS u_amount,
               {u("t.id", "when", seed)} AS u_when,
               {u("t.id", "verdict", seed)} AS u_verdict,
               false AS waiting
        FROM tickets_ticket t
        WHERE t.solved_at > %(since)s AND t.solved_at <= %(now)s
          AND t.assignee_id IS NOT NULL
          AND {u("t.id", "grant", seed)} < %(grant_share)s
        UNION ALL
        SELECT t.id, t.customer_id, t.pod_id, t.assignee_id, t.created_at, NULL, 1,
               CASE WHEN {u("t.id", "action", seed)} < 0.6 THEN 'refund'
                    ELSE 'account-credit' END,
               {u("t.id", "amount", seed)}, {u("t.id", "when", seed)}, 1, true
        FROM tickets_ticket t
        WHERE t.status IN ('OPEN', 'PENDING') AND t.assignee_id IS NOT NULL
          AND t.created_at <= %(now)s
          AND {u("t.id", "pending", seed)} < %(pending_share)s
        """,  # noqa: S608
        f"""
        CREATE TEMP TABLE bench_requests ON COMMIT DROP AS
        SELECT p.*, a.id AS action_type_id, a.currency,
               CASE p.stage WHEN 1 THEN a.rule1 WHEN 2 THEN a.rule2
                    ELSE a.rule3 END AS rule_id,
               round(({amount})::numeric, 2) AS amount,
               CASE WHEN p.waiting THEN 'PENDING'
                    WHEN p.stage = 1 AND p.u_verdict < 0.12 THEN 'DENIED'
                    WHEN p.stage = 2 AND p.u_verdict < 0.04 THEN 'REFUSED'
                    ELSE 'GRANTED' END AS state,
               CASE WHEN p.waiting
                    THEN greatest(p.created_at,
                                  %(now)s - p.u_when * interval '20 hours')
                    ELSE p.created_at + (p.solved_at - p.created_at)
                         * (0.2 + 0.6 * p.u_when) END AS asked_at,
               lead.user_id AS lead_user_id
        FROM bench_asks p
        JOIN bench_actions a ON a.code = p.code
        JOIN LATERAL (SELECT user_id FROM pods_agent l
                      WHERE l.pod_id = p.pod_id AND l.role = 'LEAD'
                      ORDER BY l.id LIMIT 1) lead ON true
        """,  # noqa: S608
        """
        INSERT INTO authority_authorityrequest
            (actor_kind, actor_key, idempotency_key, request_hash, amount, state,
             stage, reasons, note, created_at, due_at, decided_at, action_type_id,
             agent_id, customer_id, pod_id, ticket_id, rule_id)
        SELECT CASE r.stage WHEN 3 THEN 'CUSTOMER' ELSE 'AGENT' END,
               CASE r.stage WHEN 3 THEN 'customer:' || r.customer_id
                    ELSE 'agent:' || r.agent_id END,
               %(prefix)s || r.ticket_id,
               md5(r.ticket_id || ':hash') || md5(r.ticket_id || ':hash2'),
               r.amount, r.state,
               CASE WHEN r.state = 'REFUSED' THEN NULL ELSE r.stage END,
               '[]', '', r.asked_at,
               CASE WHEN r.stage = 1 THEN r.asked_at + interval '24 hours' END,
               CASE WHEN r.state = 'PENDING' THEN NULL
                    WHEN r.stage = 1
                    THEN least(r.asked_at + interval '30 minutes'
                               + r.u_verdict * interval '20 hours', %(now)s)
                    ELSE r.asked_at END,
               r.action_type_id,
               CASE r.stage WHEN 3 THEN NULL ELSE r.agent_id END,
               r.customer_id, r.pod_id, r.ticket_id,
               CASE WHEN r.state = 'REFUSED' THEN NULL ELSE r.rule_id END
        FROM bench_requests r
        ORDER BY r.asked_at
        """,
        """
        INSERT INTO authority_approvaldecision
            (request_id, approver_id, verdict, note, request_hash, decided_at)
        SELECT q.id, b.lead_user_id,
               CASE q.state WHEN 'DENIED' THEN 'DENY' ELSE 'APPROVE' END, '',
               q.request_hash, q.decided_at
        FROM authority_authorityrequest q
        JOIN bench_requests b ON q.idempotency_key = %(prefix)s || b.ticket_id
        WHERE q.idempotency_key LIKE %(prefix_like)s AND q.stage = 1
          AND q.state IN ('GRANTED', 'DENIED')
        ORDER BY q.decided_at
        """,
        """
        INSERT INTO authority_grant
            (kind, stage, amount, currency, reasons, granted_at, action_type_id,
             agent_id, approved_by_id, customer_id, pod_id, request_id, rule_id,
             ticket_id)
        SELECT 'GRANT', q.stage, q.amount, b.currency, '[]', q.decided_at,
               q.action_type_id, q.agent_id,
               CASE q.stage WHEN 1 THEN b.lead_user_id END,
               q.customer_id, q.pod_id, q.id, q.rule_id, q.ticket_id
        FROM authority_authorityrequest q
        JOIN bench_requests b ON q.idempotency_key = %(prefix)s || b.ticket_id
        WHERE q.idempotency_key LIKE %(prefix_like)s AND q.state = 'GRANTED'
        ORDER BY q.decided_at
        """,
        f"""
        INSERT INTO authority_grant
            (kind, stage, amount, currency, reasons, granted_at, action_type_id,
             agent_id, approved_by_id, customer_id, pod_id, request_id, rule_id,
             ticket_id, reverses_id)
        SELECT 'REVERSAL', g.stage, -g.amount, g.currency, '[]',
               least(g.granted_at + {u("g.id", "reversed_at", seed)}
                     * interval '3 days', %(now)s),
               g.action_type_id, g.agent_id, NULL, g.customer_id, g.pod_id, NULL,
               g.rule_id, g.ticket_id, g.id
        FROM authority_grant g
        JOIN authority_authorityrequest q ON q.id = g.request_id
        WHERE q.idempotency_key LIKE %(prefix_like)s
          AND {u("g.ticket_id", "reversed", seed)} < %(reversal_share)s
        ORDER BY 6
        """,  # noqa: S608
        """
        INSERT INTO authority_ledgerentry
            (grant_id, customer_id, pod_id, kind, amount, currency, created_at)
        SELECT g.id, g.customer_id, g.pod_id, a.effect, g.amount, g.currency,
               g.granted_at
        FROM authority_grant g JOIN bench_actions a ON a.id = g.action_type_id
        WHERE a.effect IN ('REFUND', 'CREDIT')
        """,
        # Net of reversals, as the services count (a reversal takes its grant
        # off the same rows); the periods are the pod's local days and months.
        """
        INSERT INTO authority_usagecounter
            (scope, scope_id, action_type_id, period_start, amount, count)
        SELECT 'CUSTOMER', g.customer_id, g.action_type_id, DATE '1970-01-01',
               sum(g.amount), sum(CASE g.kind WHEN 'GRANT' THEN 1 ELSE -1 END)
        FROM authority_grant g JOIN bench_actions a ON a.id = g.action_type_id
        GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT 'AGENT_DAY', g.agent_id, g.action_type_id,
               (o.granted_at AT TIME ZONE p.time_zone)::date,
               sum(g.amount), sum(CASE g.kind WHEN 'GRANT' THEN 1 ELSE -1 END)
        FROM authority_grant g JOIN bench_actions a ON a.id = g.action_type_id
        JOIN authority_grant o ON o.id = coalesce(g.reverses_id, g.id)
        JOIN pods_pod p ON p.id = g.pod_id
        WHERE g.stage <> 1 AND g.agent_id IS NOT NULL
        GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT 'POD_MONTH', g.pod_id, g.action_type_id,
               date_trunc('month', o.granted_at AT TIME ZONE p.time_zone)::date,
               sum(g.amount), sum(CASE g.kind WHEN 'GRANT' THEN 1 ELSE -1 END)
        FROM authority_grant g JOIN bench_actions a ON a.id = g.action_type_id
        JOIN authority_grant o ON o.id = coalesce(g.reverses_id, g.id)
        JOIN pods_pod p ON p.id = g.pod_id
        GROUP BY 1, 2, 3, 4
        """,
    ]


STEP_FUNCTIONS = {
    "reopens": reopens_add,
    "surveys": surveys_add,
    "templates": templates_add,
    "template_uses": template_uses_add,
    "authority": authority_add,
}


def dataset_figures() -> dict:
    """What the dashboards read, counted."""
    queries = {
        "solved_tickets": "SELECT count(*) FROM tickets_ticket"
        " WHERE solved_at IS NOT NULL",
        "reopened_tickets": "SELECT count(*) FROM tickets_ticket"
        " WHERE reopened_count > 0",
        "surveys": "SELECT count(*) FROM tickets_satisfactionsurvey",
        "surveys_answered": "SELECT count(*) FROM tickets_satisfactionsurvey"
        " WHERE answered_at IS NOT NULL",
        "reply_templates": "SELECT count(*) FROM tickets_replytemplate",
        "template_uses": "SELECT count(*) FROM tickets_templateuse",
        "outbound_messages": "SELECT count(*) FROM tickets_message"
        " WHERE direction = 'OUTBOUND'",
        "authority_requests": "SELECT count(*) FROM authority_authorityrequest",
        "approval_decisions": "SELECT count(*) FROM authority_approvaldecision",
        "ledger_entries": "SELECT count(*) FROM authority_ledgerentry",
        "usage_counters": "SELECT count(*) FROM authority_usagecounter",
    }
    figures: dict = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            figures[name] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT kind || ' stage ' || stage, count(*) FROM authority_grant"
            " GROUP BY 1 ORDER BY 1"
        )
        figures["grants"] = dict(cursor.fetchall())
        cursor.execute(
            "SELECT state, count(*) FROM authority_authorityrequest"
            " GROUP BY 1 ORDER BY 1"
        )
        figures["requests_by_state"] = dict(cursor.fetchall())
        cursor.execute(
            "SELECT rating, count(*) FROM tickets_satisfactionsurvey"
            " WHERE rating IS NOT NULL GROUP BY 1 ORDER BY 1"
        )
        figures["ratings"] = {str(k): v for k, v in cursor.fetchall()}
    return figures
