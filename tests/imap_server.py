"""A real IMAP server for tests: Debian's dovecot on 127.0.0.1 with TLS, a
self-signed certificate and one mailbox, all in a temporary folder."""

import imaplib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT = 10  # seconds

CONFIG = """\
base_dir = {root}/run
instance_name = helpdesk-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%u
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    ca_file: str

    def connect(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=self.ca_file)
        connection = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context)
        connection.login(self.user, self.password)
        return connection

    def deliver(self, messages: list[bytes]) -> None:
        connection = self.connect()
        try:
            for raw in messages:
                connection.append("INBOX", None, None, raw)
        finally:
            connection.logout()

    def uids(self, *criteria: str) -> list[int]:
        connection = self.connect()
        try:
            connection.select("INBOX", readonly=True)
            _, data = connection.uid("SEARCH", None, *(criteria or ("ALL",)))
            return [int(uid) for uid in (data[0] or b"").split()]
        finally:
            connection.logout()

    def settings(self, after_store: str = "seen") -> dict:
        return {
            "HOST": self.host,
            "PORT": self.port,
            "USER": self.user,
            "PASSWORD": self.password,
            "FOLDER": "INBOX",
            "AFTER_STORE": after_store,
            "TLS": True,
            "CA_FILE": self.ca_file,
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def imap_server() -> Iterator[ImapServer]:
    """Start dovecot for the duration of the block (needs the Debian packages
    dovecot-imapd and openssl; skips without them, fails on the real stack)."""
    require(
        Path(DOVECOT).exists() and shutil.which("openssl") is not None,
        "needs dovecot-imapd and openssl (Debian packages)",
    )
    # Not pytest's tmp_path: its parents are private to root, and dovecot reads
    # the mail folder as the unprivileged user "nobody".
    root = Path(tempfile.mkdtemp(prefix="helpdesk-imap-"))
    root.chmod(0o755)
    port = _free_port()
    for folder in ("run", "mail"):
        (root / folder).mkdir(parents=True)
    (root / "mail").chmod(0o777)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "cert.pem"),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    (root / "passwd").write_text("helpdesk:{PLAIN}imap-test-pass\n")
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")])
    try:
        _wait_for(port, process, root)
        yield ImapServer(
            host="127.0.0.1",
            port=port,
            user="helpdesk",
            password="imap-test-pass",
            ca_file=str(root / "cert.pem"),
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, root: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = root / "dovecot.log"
            raise RuntimeError(
                f"dovecot exited: {log.read_text() if log.exists() else ''}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on 127.0.0.1:{port}")
