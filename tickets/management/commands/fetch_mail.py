"""Fetch new mail from the IMAP mailbox configured in the environment
(HELPDESK_IMAP_*), over TLS.

Each message is stored with the mailbox checkpoint in one transaction before
anything is done to it on the server: only after that commit is it flagged
\\Seen or deleted (HELPDESK_IMAP_AFTER_STORE), so a fetcher killed at any point
loses nothing and, resuming from the checkpoint, stores nothing twice."""

import imaplib
import logging
import re
import ssl
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tickets import services

logger = logging.getLogger(__name__)

UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
FETCH_BATCH = 50  # UIDs per FETCH round trip


class Command(BaseCommand):
    help = "Fetch new mail from the configured IMAP mailbox (once, or --every N s)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--every", type=int, default=0, help="keep fetching every N seconds"
        )
        parser.add_argument(
            "--limit", type=int, default=0, help="stop after N messages"
        )

    def handle(self, *args, every: int, limit: int, **options) -> None:
        config = settings.HELPDESK["IMAP"]
        if not config["HOST"] or not config["USER"]:
            raise CommandError(
                "set HELPDESK_IMAP_HOST, HELPDESK_IMAP_USER and HELPDESK_IMAP_PASSWORD"
            )
        while True:
            stored = self._fetch_once(config=config, limit=limit)
            self.stdout.write(f"{stored} new messages stored")
            if not every:
                return
            time.sleep(every)

    def _fetch_once(self, *, config: dict, limit: int) -> int:
        connection = self._connect(config)
        try:
            return self._fetch_new(connection=connection, config=config, limit=limit)
        finally:
            try:
                connection.logout()
            except (imaplib.IMAP4.error, OSError):
                logger.warning("IMAP logout failed", exc_info=True)

    @staticmethod
    def _connect(config: dict) -> imaplib.IMAP4:
        try:
            if config["TLS"]:
                context = ssl.create_default_context(cafile=config["CA_FILE"] or None)
                connection = imaplib.IMAP4_SSL(
                    config["HOST"], config["PORT"], ssl_context=context, timeout=30
                )
            else:
                connection = imaplib.IMAP4(config["HOST"], config["PORT"], timeout=30)
            connection.login(config["USER"], config["PASSWORD"])
        except (imaplib.IMAP4.error, OSError) as exc:
            raise CommandError(f"cannot reach {config['HOST']}: {exc}") from exc
        return connection

    def _fetch_new(self, *, connection: imaplib.IMAP4, config: dict, limit: int) -> int:
        folder = config["FOLDER"]
        keep = config["AFTER_STORE"] == "keep"
        status, _ = connection.select(_quoted(folder), readonly=keep)
        if status != "OK":
            raise CommandError(f"cannot open folder {folder}")
        uidvalidity = self._uidvalidity(connection)
        mailbox = f"{config['USER']}@{config['HOST']}/{folder}"
        checkpoint = services.mailbox_checkpoint(
            mailbox=mailbox, uidvalidity=uidvalidity, now=timezone.now()
        )
        uids = self._uids_after(connection, checkpoint.last_uid)
        if limit:
            uids = uids[:limit]
        for start in range(0, len(uids), FETCH_BATCH):
            for uid, raw in self._fetch(connection, uids[start : start + FETCH_BATCH]):
                services.mailbox_message_store(
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    raw=raw,
                    now=timezone.now(),
                )
                self._after_store(connection, uid=uid, action=config["AFTER_STORE"])
        if config["AFTER_STORE"] == "delete" and uids:
            connection.expunge()
        return len(uids)

    @staticmethod
    def _uidvalidity(connection: imaplib.IMAP4) -> int:
        _, data = connection.response("UIDVALIDITY")
        if data and data[0]:
            return int(data[0])
        _, data = connection.status("INBOX", "(UIDVALIDITY)")
        match = UIDVALIDITY.search(data[0] or b"")
        if match is None:
            raise CommandError("the server reported no UIDVALIDITY")
        return int(match.group(1))

    @staticmethod
    def _uids_after(connection: imaplib.IMAP4, last_uid: int) -> list[int]:
        status, data = connection.uid("SEARCH", None, f"UID {last_uid + 1}:*")
        if status != "OK":
            raise CommandError(f"UID SEARCH failed: {data}")
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(
            uid for uid in map(int, (data[0] or b"").split()) if uid > last_uid
        )

    @staticmethod
    def _fetch(connection: imaplib.IMAP4, uids: list[int]):
        joined = ",".join(map(str, uids))
        status, data = connection.uid("FETCH", joined, "(UID BODY.PEEK[])")
        if status != "OK":
            raise CommandError(f"UID FETCH failed: {data}")
        for item in data:
            if not isinstance(item, tuple):
                continue
            match = re.search(rb"UID (\d+)", item[0])
            if match:
                yield int(match.group(1)), item[1]

    @staticmethod
    def _after_store(connection: imaplib.IMAP4, *, uid: int, action: str) -> None:
        if action == "seen":
            connection.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
        elif action == "delete":
            connection.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
