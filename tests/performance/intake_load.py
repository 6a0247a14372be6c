"""Load generator of the intake benchmark: HTTP/1.1 keep-alive requests over raw
asyncio sockets on loopback, run as a process of its own so that its CPU is not
the server's.

    python -m tests.performance.intake_load --plan PLAN.json --scenario SCENARIO \\
        --out RESULT.json [--connections 16] [--seconds 30] [--warmup 3] [--rate 170]

Scenarios:

- `ceiling`, `email`: closed loop. Each connection sends its next request as soon
  as the previous answer arrived, for `--warmup` seconds (not counted) and then
  `--seconds`. Both send the same kind of bodies (a fresh, signed RFC 822 email
  from a known customer each time), to `/bench/ceiling/` and `/inbound/email/`.
  With `--rate`, the same requests arrive at that rate instead (open loop), and
  latency counts from the moment each was due.
- `stream`: open loop. Contacts arrive at `--rate` requests per second (Poisson)
  for `--seconds`, in a mix of channels (email, replies to earlier emails, SMS,
  the three events of phone calls, social direct messages, the tickets API) with
  exact redeliveries of earlier requests; latency counts from the moment a
  request was due, so a slow server is not hidden by a client that waits for it.
- `preload`: the stream's contacts (`--count` of them, with their calls' events
  and redeliveries, no pauses), sent as fast as the connections go: the backlog
  for the worker's drain.

In `stream` and `preload`, new contacts stop at the end (of `--seconds` or
`--count`); what they scheduled (the rest of a call, redeliveries) is still sent,
so every call ends.

Everything is deterministic from the plan's seed and tag. The result file holds
the figures (requests/s, p50/p95/p99, statuses, this process's CPU) and, for
`stream` and `preload`, the ledger: every distinct message sent, by channel, so
the benchmark can check the database for each one afterwards. No Django here.
"""

import argparse
import asyncio
import hashlib
import heapq
import hmac
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from tests.performance._http import KeepAliveConnection

EMAIL_PATH = "/inbound/email/"
CEILING_PATH = "/bench/ceiling/"
SMS_PATH = "/inbound/sms/"
PHONE_PATH = "/inbound/phone/"
SOCIAL_PROVIDER = "mastodon"
SOCIAL_PATH = f"/inbound/social/{SOCIAL_PROVIDER}/"
API_PATH = "/api/tickets/"
SIGNATURE_HEADER = "X-Helpdesk-Signature"
SUPPORT_ADDRESS = "support@helpdesk.localhost"

# The stream's contacts, by weight; each is one request except a call (three
# events: ringing, answered, ended, seconds apart).
DEFAULT_MIX = {
    "email": 34,  # a new email from a known customer
    "email_new": 4,  # a new email from someone never seen (a new customer)
    "reply": 12,  # a reply to an earlier email of the stream, threading into it
    "sms": 18,
    "call": 8,
    "social": 12,
    "api": 6,
}
REDELIVERY_RATE = 0.04  # requests sent again with the exact same bytes
SMS_NEW_NUMBER_RATE = 0.1
SOCIAL_USERS = 3000
REPLY_AFTER_SECONDS = 5.0  # a reply comes at least this long after its email


# --- Payloads ------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


PARAGRAPHS = (
    "Hello, my meter reading this morning was {n} and the bill says otherwise.",
    "Could you check the account? I moved in on the 3rd and the first bill came "
    "with the previous tenant's usage on it.",
    "The engineer was due between 8 and 12 today and nobody came. Please let me "
    "know when they can come instead, I can do any weekday after 2pm.",
    "I paid by card on Monday but the app still shows the balance as due. The "
    "reference on my statement is {n}.",
    "Thanks for your help last week. The smart meter has stopped sending "
    "readings again since Friday.",
    "Please update my email address and send me a copy of the last three bills.",
)
HTML_WRAP = (
    "<html><head><style>p{{margin:0}}</style></head><body>"
    '<div dir="ltr"><p>{text}</p><p>Kind regards,<br><b>{name}</b></p>'
    '<img src="https://tracker.example/p.gif?id={n}" width="1" height="1">'
    "</div></body></html>"
)


@dataclass
class Email:
    message_id: str
    sender: str
    subject: str
    at: float  # when it was due, in seconds from the start


def email_render(
    *,
    rng: random.Random,
    message_id: str,
    sender: str,
    name: str,
    subject: str,
    number: int,
    in_reply_to: str = "",
    quoted: str = "",
) -> bytes:
    """An RFC 822 email as a mail client sends it: text/plain, or (half the
    time) multipart/alternative with an HTML part; a reply quotes the earlier
    message below its own text."""
    text = " ".join(
        paragraph.format(n=number) for paragraph in rng.sample(PARAGRAPHS, 2)
    )
    text = f"{text}\n\nKind regards,\n{name}\n"
    if quoted:
        text += "\nOn Monday, support wrote:\n" + "".join(
            f"> {line}\n" for line in quoted.splitlines()
        )
    headers = [
        f"From: {name} <{sender}>",
        f"To: Support <{SUPPORT_ADDRESS}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    if rng.random() < 0.5:
        headers.append('Content-Type: text/plain; charset="utf-8"')
        headers.append("Content-Transfer-Encoding: 8bit")
        return ("\r\n".join(headers) + "\r\n\r\n" + text).encode()
    boundary = f"=_bench_{number}"
    html = HTML_WRAP.format(text=text.split("\n\n")[0], name=name, n=number)
    parts = [
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        "",
        text,
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        "",
        html,
        f"--{boundary}--",
        "",
    ]
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(parts)).encode()


def display_name(address: str) -> str:
    first, _, rest = address.partition(".")
    last = rest.partition(".")[0]
    return f"{first.title()} {last.title()}"


@dataclass(order=True)
class Request:
    """One HTTP request; `due` orders the stream's schedule."""

    due: float
    seq: int
    kind: str = field(compare=False)
    path: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: tuple[tuple[str, str], ...] = field(compare=False)
    key: str = field(compare=False, default="")  # the message's id in the ledger
    redelivery: bool = field(compare=False, default=False)


class Plan:
    """What the benchmark tells the generator: secrets, known customers, the API
    token, the run's tag and seed, the mix."""

    def __init__(self, data: dict) -> None:
        self.secrets: dict[str, str] = data["secrets"]
        self.emails: list[str] = data["emails"]
        self.phones: list[str] = data["phones"]
        self.api_token: str = data.get("api_token", "")
        self.tag: str = data["tag"]
        self.seed: int = data["seed"]
        self.mix: dict[str, float] = data.get("mix") or DEFAULT_MIX
        self.redelivery_rate: float = data.get("redelivery_rate", REDELIVERY_RATE)


class EmailSource:
    """Fresh signed emails from known customers, for the closed-loop scenarios."""

    def __init__(self, plan: Plan, *, path: str, stream: int) -> None:
        self.plan = plan
        self.path = path
        self.rng = random.Random(f"{plan.seed}:{plan.tag}:{path}:{stream}")
        self.stream = stream
        self.count = 0

    def next(self) -> Request:
        self.count += 1
        sender = self.rng.choice(self.plan.emails)
        name = display_name(sender)
        number = self.count
        message_id = f"<bench.{self.plan.tag}.c{self.stream}.{number}@customer.example>"
        body = email_render(
            rng=self.rng,
            message_id=message_id,
            sender=sender,
            name=name,
            subject=f"Account question {self.plan.tag}-{self.stream}-{number}",
            number=number,
        )
        return Request(
            due=0.0,
            seq=number,
            kind="email",
            path=self.path,
            body=body,
            headers=(
                ("Content-Type", "message/rfc822"),
                (SIGNATURE_HEADER, sign(self.plan.secrets["EMAIL"], body)),
            ),
            key=message_id,
        )


class ContactMix:
    """The stream's schedule: contacts of every channel arriving at a rate,
    replies to earlier emails, the events of calls and exact redeliveries of
    earlier requests, each at its due time (seconds from the start).

    `ledger` collects each distinct message sent: email Message-IDs, SMS and
    social ids, call ids, API idempotency keys."""

    def __init__(
        self, plan: Plan, *, rate: float, seconds: float, contacts: int
    ) -> None:
        self.plan = plan
        self.rate = rate
        # New contacts arrive until `seconds` (at a rate) or until `contacts` of
        # them were made (rate 0); what they scheduled later is still sent.
        self.until = seconds
        self.max_contacts = contacts
        self.contacts = 0
        self.rng = random.Random(f"{plan.seed}:{plan.tag}:stream")
        self.kinds = list(plan.mix)
        self.weights = [plan.mix[kind] for kind in self.kinds]
        self.heap: list[Request] = []
        self.seq = 0
        self.clock = 0.0
        self.sent_emails: list[Email] = []
        self.ledger: dict[str, list[str]] = defaultdict(list)
        self.redeliveries: Counter = Counter()

    def _push(self, request: Request) -> None:
        heapq.heappush(self.heap, request)

    def _request(
        self, *, due: float, kind: str, path: str, body: bytes, headers, key: str
    ) -> Request:
        self.seq += 1
        return Request(
            due=due,
            seq=self.seq,
            kind=kind,
            path=path,
            body=body,
            headers=tuple(headers),
            key=key,
        )

    def _accepting(self) -> bool:
        if self.rate:
            return self.clock < self.until
        return self.contacts < self.max_contacts

    def next(self) -> Request | None:
        """The next request due, None when all are sent; new contacts are made as
        the clock reaches them."""
        while self._accepting() and (not self.heap or self.heap[0].due > self.clock):
            self._contact_add(at=self.clock)
            self.contacts += 1
            self.clock += self.rng.expovariate(self.rate) if self.rate else 0.0
        if not self.heap:
            return None
        request = heapq.heappop(self.heap)
        if not request.redelivery and self.rng.random() < self.plan.redelivery_rate:
            delay = self.rng.uniform(1.0, 20.0) if self.rate else 0.0
            self.seq += 1
            self._push(
                Request(
                    due=request.due + delay,
                    seq=self.seq,
                    kind=request.kind,
                    path=request.path,
                    body=request.body,
                    headers=request.headers,
                    key=request.key,
                    redelivery=True,
                )
            )
            self.redeliveries[request.kind] += 1
        return request

    def _contact_add(self, *, at: float) -> None:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "reply":
            earlier = self._reply_source(at=at)
            if earlier is not None:
                self._reply(at=at, earlier=earlier)
                return
            kind = "email"
        getattr(self, f"_{kind}")(at=at)

    # Email ---------------------------------------------------------------------

    def _reply_source(self, *, at: float) -> Email | None:
        if not self.sent_emails:
            return None
        # One of the last few hundred emails, sent long enough ago to be stored.
        for _ in range(5):
            index = len(self.sent_emails) - 1 - int(self.rng.expovariate(1 / 150))
            if index < 0:
                continue
            email = self.sent_emails[index]
            if not self.rate or at - email.at >= REPLY_AFTER_SECONDS:
                return email
        return None

    def _email_request(
        self, *, at: float, sender: str, subject: str, reply_to: Email | None
    ) -> None:
        number = self.seq + 1
        message_id = f"<bench.{self.plan.tag}.{number}@customer.example>"
        name = display_name(sender)
        body = email_render(
            rng=self.rng,
            message_id=message_id,
            sender=sender,
            name=name,
            subject=subject,
            number=number,
            in_reply_to=reply_to.message_id if reply_to else "",
            quoted="Thank you for your message." if reply_to else "",
        )
        self.sent_emails.append(Email(message_id, sender, subject, at))
        self.ledger["reply" if reply_to else "email"].append(message_id)
        self._push(
            self._request(
                due=at,
                kind="reply" if reply_to else "email",
                path=EMAIL_PATH,
                body=body,
                headers=[
                    ("Content-Type", "message/rfc822"),
                    (SIGNATURE_HEADER, sign(self.plan.secrets["EMAIL"], body)),
                ],
                key=message_id,
            )
        )

    def _email(self, *, at: float) -> None:
        sender = self.rng.choice(self.plan.emails)
        self._email_request(
            at=at,
            sender=sender,
            subject=f"Question {self.plan.tag}-{self.seq + 1}",
            reply_to=None,
        )

    def _email_new(self, *, at: float) -> None:
        sender = f"first.contact.{self.plan.tag}.{self.seq + 1}@new-customers.example"
        self._email_request(
            at=at,
            sender=sender,
            subject=f"New here {self.plan.tag}-{self.seq + 1}",
            reply_to=None,
        )

    def _reply(self, *, at: float, earlier: Email) -> None:
        subject = earlier.subject
        self._email_request(
            at=at,
            sender=earlier.sender,
            subject=subject if subject.startswith("Re: ") else f"Re: {subject}",
            reply_to=earlier,
        )

    # JSON channels -----------------------------------------------------------------

    def _json(
        self, *, at: float, kind: str, path: str, payload: dict, secret: str, key: str
    ) -> Request:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self._request(
            due=at,
            kind=kind,
            path=path,
            body=body,
            headers=[
                ("Content-Type", "application/json"),
                (SIGNATURE_HEADER, sign(secret, body)),
            ],
            key=key,
        )

    def _sms(self, *, at: float) -> None:
        if self.rng.random() < SMS_NEW_NUMBER_RATE:
            number = f"+4479{self.rng.randrange(10**8):08d}"
        else:
            number = self.rng.choice(self.plan.phones)
        sms_id = f"SM-{self.plan.tag}-{self.seq + 1}"
        self.ledger["sms"].append(sms_id)
        self._push(
            self._json(
                at=at,
                kind="sms",
                path=SMS_PATH,
                payload={
                    "id": sms_id,
                    "provider": "bench",
                    "from": number,
                    "to": "+447700900999",
                    "text": self.rng.choice(PARAGRAPHS).format(n=self.seq),
                },
                secret=self.plan.secrets["SMS"],
                key=sms_id,
            )
        )

    def _call(self, *, at: float) -> None:
        """Three events of one call: ringing, answered 2-8 s later, ended after
        10-40 s of talk (or missed, one call in eight)."""
        if self.rng.random() < 0.2:
            number = f"+4479{self.rng.randrange(10**8):08d}"
        else:
            number = self.rng.choice(self.plan.phones)
        call_id = f"CA-{self.plan.tag}-{self.seq + 1}"
        self.ledger["call"].append(call_id)
        secret = self.plan.secrets["PHONE"]
        base = {"call_id": call_id, "provider": "bench", "from": number}
        base["to"] = "+442079460000"
        if self.rng.random() < 0.125:
            events = [("ringing", 0.0), ("missed", self.rng.uniform(15, 30))]
        else:
            answered = self.rng.uniform(2, 8)
            ended = answered + self.rng.uniform(10, 40)
            events = [("ringing", 0.0), ("answered", answered), ("ended", ended)]
        spread = 1.0 if self.rate else 0.0
        for event, offset in events:
            payload = {**base, "event": event}
            if event == "ended":
                payload["duration"] = round(offset - events[1][1])
            self._push(
                self._json(
                    at=at + offset * spread,
                    kind="call",
                    path=PHONE_PATH,
                    payload=payload,
                    secret=secret,
                    key=call_id,
                )
            )

    def _social(self, *, at: float) -> None:
        user = self.rng.randrange(SOCIAL_USERS)
        dm_id = f"DM-{self.plan.tag}-{self.seq + 1}"
        self.ledger["social"].append(dm_id)
        self._push(
            self._json(
                at=at,
                kind="social",
                path=SOCIAL_PATH,
                payload={
                    "id": dm_id,
                    "from": {
                        "id": f"{self.plan.tag}-u{user}",
                        "handle": f"user{user}",
                        "name": f"Social User {user}",
                    },
                    "text": self.rng.choice(PARAGRAPHS).format(n=self.seq),
                    "thread_id": f"T-{self.plan.tag}-{user}",
                },
                secret=self.plan.secrets["SOCIAL"],
                key=dm_id,
            )
        )

    def _api(self, *, at: float) -> None:
        key = f"api-{self.plan.tag}-{self.seq + 1}"
        self.ledger["api"].append(key)
        sender = self.rng.choice(self.plan.emails)
        body = json.dumps(
            {
                "customer": {"email": sender, "name": display_name(sender)},
                "subject": f"Order {self.seq} stuck",
                "text": self.rng.choice(PARAGRAPHS).format(n=self.seq),
            },
            separators=(",", ":"),
        ).encode()
        self._push(
            self._request(
                due=at,
                kind="api",
                path=API_PATH,
                body=body,
                headers=[
                    ("Content-Type", "application/json"),
                    ("Authorization", f"Token {self.plan.api_token}"),
                    ("Idempotency-Key", key),
                ],
                key=key,
            )
        )


# --- HTTP over raw sockets ----------------------------------------------------------


class Connection(KeepAliveConnection):
    """A keep-alive connection that posts the scenarios' requests."""

    def encode(self, request: Request) -> bytes:
        head = [
            f"POST {request.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(request.body)}",
            *(f"{name}: {value}" for name, value in request.headers),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + request.body

    async def send(self, request: Request) -> tuple[int, bytes]:
        """Send and read the answer: (status, body)."""
        response = await self.exchange(self.encode(request))
        return response.status, response.body


# --- Scenarios ----------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    status: int
    latency: float  # seconds from due (open loop) or from send (closed loop)
    service: float  # seconds from send to answer
    done: float  # seconds since the start
    redelivery: bool = False
    duplicate: bool | None = None


def figures(samples: list[Sample], *, seconds: float) -> dict:
    ok = [s for s in samples if 200 <= s.status < 300]
    latencies = sorted(s.latency for s in samples)
    result = {
        "requests": len(samples),
        "ok": len(ok),
        "errors": len(samples) - len(ok),
        "statuses": dict(Counter(str(s.status) for s in samples)),
        "rps": round(len(ok) / seconds, 1) if seconds else None,
    }
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        result.update(
            p50_ms=round(statistics.median(latencies) * 1000, 2),
            p95_ms=round(cuts[94] * 1000, 2),
            p99_ms=round(cuts[98] * 1000, 2),
            max_ms=round(latencies[-1] * 1000, 2),
        )
    services = sorted(s.service for s in samples)
    if len(services) >= 2:
        result["service_p95_ms"] = round(
            statistics.quantiles(services, n=100, method="inclusive")[94] * 1000, 2
        )
    return result


async def closed_loop(
    *,
    host: str,
    port: int,
    plan: Plan,
    path: str,
    connections: int,
    warmup: float,
    seconds: float,
) -> dict:
    started = time.perf_counter()
    window = (started + warmup, started + warmup + seconds)
    samples: list[Sample] = []
    failures: Counter = Counter()
    conns = [Connection(host, port) for _ in range(connections)]

    async def run(number: int) -> None:
        source = EmailSource(plan, path=path, stream=number)
        conn = conns[number]
        while True:
            request = source.next()
            sent = time.perf_counter()
            if sent >= window[1]:
                return
            try:
                status, _ = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                failures[type(exc).__name__] += 1
                conn.close()
                status = 0
            done = time.perf_counter()
            if window[0] <= sent and done <= window[1]:
                elapsed = done - sent
                samples.append(
                    Sample(request.kind, status, elapsed, elapsed, done - started)
                )

    cpu = time.process_time()
    await asyncio.gather(*(run(number) for number in range(connections)))
    cpu = time.process_time() - cpu
    for conn in conns:
        conn.close()
    result = figures(samples, seconds=seconds)
    result.update(
        scenario="ceiling" if path == CEILING_PATH else "email",
        connections=connections,
        seconds=seconds,
        warmup=warmup,
        client_cpu_seconds=round(cpu, 2),
        client_failures=dict(failures),
        reconnects=sum(conn.reconnects for conn in conns),
    )
    return result


async def fixed_rate(
    *,
    host: str,
    port: int,
    plan: Plan,
    path: str,
    connections: int,
    warmup: float,
    seconds: float,
    rate: float,
) -> dict:
    """The closed loop's requests, arriving at `rate` per second (Poisson) instead:
    the latency a provider sees at that load, counted from when each was due."""
    rng = random.Random(f"{plan.seed}:{plan.tag}:{path}:arrivals")
    source = EmailSource(plan, path=path, stream=0)
    queue: asyncio.Queue = asyncio.Queue()
    samples: list[Sample] = []
    failures: Counter = Counter()
    conns = [Connection(host, port) for _ in range(connections)]
    started = time.perf_counter()
    end = warmup + seconds

    async def schedule() -> None:
        due = 0.0
        while due < end:
            wait = started + due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            await queue.put((due, source.next()))
            due += rng.expovariate(rate)
        for _ in conns:
            await queue.put(None)

    async def run(conn: Connection) -> None:
        while (item := await queue.get()) is not None:
            due, request = item
            sent = time.perf_counter()
            try:
                status, _ = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                failures[type(exc).__name__] += 1
                conn.close()
                status = 0
            done = time.perf_counter()
            if due >= warmup:
                samples.append(
                    Sample(
                        request.kind,
                        status,
                        done - (started + due),
                        done - sent,
                        done - started,
                    )
                )

    cpu = time.process_time()
    await asyncio.gather(schedule(), *(run(conn) for conn in conns))
    cpu = time.process_time() - cpu
    for conn in conns:
        conn.close()
    result = figures(samples, seconds=seconds)
    result.update(
        scenario=("ceiling" if path == CEILING_PATH else "email") + "-at-rate",
        connections=connections,
        rate=rate,
        seconds=seconds,
        warmup=warmup,
        finished_seconds=round(time.perf_counter() - started - warmup, 2),
        client_cpu_seconds=round(cpu, 2),
        client_failures=dict(failures),
        reconnects=sum(conn.reconnects for conn in conns),
    )
    return result


async def open_loop(
    *,
    host: str,
    port: int,
    plan: Plan,
    connections: int,
    rate: float,
    seconds: float,
    count: int,
) -> dict:
    """Send the mix: at `rate` for `seconds` (stream) or, with rate 0, `count`
    requests as fast as the connections go (preload)."""
    mix = ContactMix(plan, rate=rate, seconds=seconds, contacts=count)
    queue: asyncio.Queue = asyncio.Queue()
    samples: list[Sample] = []
    failures: Counter = Counter()
    # The messages the server acknowledged (any delivery of them answered 2xx).
    acknowledged: dict[str, dict[str, None]] = defaultdict(dict)
    answers: Counter = Counter()
    started = time.perf_counter()
    lag_max = 0.0
    conns = [Connection(host, port) for _ in range(connections)]

    async def schedule() -> None:
        nonlocal lag_max
        while True:
            request = mix.next()
            if request is None:
                break
            if rate:
                wait = started + request.due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    lag_max = max(lag_max, -wait)
            await queue.put(request)
            if not rate and queue.qsize() > connections * 4:
                while queue.qsize() > connections:
                    await asyncio.sleep(0.001)
        for _ in conns:
            await queue.put(None)

    async def run(conn: Connection) -> None:
        while True:
            request = await queue.get()
            if request is None:
                return
            due = started + request.due if rate else time.perf_counter()
            sent = time.perf_counter()
            duplicate = None
            try:
                status, body = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                failures[type(exc).__name__] += 1
                conn.close()
                status, body = 0, b""
            done = time.perf_counter()
            if 200 <= status < 300:
                acknowledged[request.kind][request.key] = None
                if request.kind == "api":
                    duplicate = status == 200
                else:
                    duplicate = bool(json.loads(body).get("duplicate"))
                answers["duplicate" if duplicate else "created"] += 1
            samples.append(
                Sample(
                    request.kind,
                    status,
                    done - due,
                    done - sent,
                    done - started,
                    request.redelivery,
                    duplicate,
                )
            )

    cpu = time.process_time()
    await asyncio.gather(schedule(), *(run(conn) for conn in conns))
    cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    duration = elapsed
    result = figures(samples, seconds=duration)
    by_kind = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    redelivered = [s for s in samples if s.redelivery]
    result.update(
        scenario="stream" if rate else "preload",
        connections=connections,
        rate=rate,
        seconds=round(duration, 2),
        contacts_seconds=round(mix.clock, 2) if rate else None,
        contacts=mix.contacts,
        client_cpu_seconds=round(cpu, 2),
        client_failures=dict(failures),
        reconnects=sum(conn.reconnects for conn in conns),
        schedule_lag_max_ms=round(lag_max * 1000, 1),
        by_kind={
            kind: figures(kind_samples, seconds=duration)
            for kind, kind_samples in sorted(by_kind.items())
        },
        redeliveries={
            "sent": len(redelivered),
            "statuses": dict(Counter(str(s.status) for s in redelivered)),
        },
        # An original and its redelivery may race: either one is stored.
        answers_created=answers["created"],
        answers_duplicate=answers["duplicate"],
        api_created=sum(1 for s in by_kind.get("api", []) if s.status == 201),
        ledger={kind: list(keys) for kind, keys in sorted(acknowledged.items())},
        generated={kind: len(keys) for kind, keys in sorted(mix.ledger.items())},
        first_sends={
            kind: sum(1 for s in kind_samples if not s.redelivery)
            for kind, kind_samples in sorted(by_kind.items())
        },
        first_sends_ok={
            kind: sum(
                1 for s in kind_samples if not s.redelivery and 200 <= s.status < 300
            )
            for kind, kind_samples in sorted(by_kind.items())
        },
    )
    return result


# --- Command line ---------------------------------------------------------------------


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", required=True, help="the benchmark's plan (JSON)")
    parser.add_argument(
        "--scenario", required=True, choices=["ceiling", "email", "stream", "preload"]
    )
    parser.add_argument("--out", required=True, help="where to write the result JSON")
    parser.add_argument("--url", help="base URL (default: the plan's)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="stream: contacts per second; ceiling and email: requests per second"
        " (Poisson) instead of the closed loop",
    )
    parser.add_argument(
        "--count", type=int, default=10_000, help="preload: contacts to send"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    data = json.loads(Path(args.plan).read_text())
    plan = Plan(data)
    url = urlsplit(args.url or data["url"])
    host, port = url.hostname, url.port
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.scenario in ("ceiling", "email") and args.rate:
        coroutine = fixed_rate(
            host=host,
            port=port,
            plan=plan,
            path=CEILING_PATH if args.scenario == "ceiling" else EMAIL_PATH,
            connections=args.connections,
            warmup=args.warmup,
            seconds=args.seconds,
            rate=args.rate,
        )
    elif args.scenario in ("ceiling", "email"):
        coroutine = closed_loop(
            host=host,
            port=port,
            plan=plan,
            path=CEILING_PATH if args.scenario == "ceiling" else EMAIL_PATH,
            connections=args.connections,
            warmup=args.warmup,
            seconds=args.seconds,
        )
    else:
        coroutine = open_loop(
            host=host,
            port=port,
            plan=plan,
            connections=args.connections,
            rate=args.rate if args.scenario == "stream" else 0.0,
            seconds=args.seconds,
            count=args.count,
        )
    result = runner(coroutine)
    Path(args.out).write_text(json.dumps(result))
    summary = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    sys.stderr.write(f"[load] {json.dumps(summary)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
