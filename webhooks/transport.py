"""One webhook attempt over HTTP, bounded in time and in size whatever the receiver does (§11).

requests' timeouts are per read: a receiver that answers one byte at a time never trips them, and
`response.content` reads a body of any length. So every attempt streams, reads at most
`max_body` bytes of the body, and has a watchdog that shuts its socket at the deadline, which
ends whatever read is under way (status line, headers or body). Runs on the delivery threads:
no database access here.
"""

import dataclasses
import socket
import threading
import time

from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks import ssrf

USER_AGENT = "Tessera-Webhooks/1"
CHUNK = 16 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    connect: float
    deadline: float
    max_body: int
    allow_private: bool

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            connect=settings.WEBHOOK_CONNECT_TIMEOUT,
            deadline=settings.WEBHOOK_ATTEMPT_DEADLINE,
            max_body=settings.WEBHOOK_MAX_BODY_BYTES,
            allow_private=ssrf.allow_private(),
        )


@dataclasses.dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return not self.error and self.status_code is not None and 200 <= self.status_code < 300


class _Watchdog:
    """Shuts the attempt's connections when its deadline passes."""

    def __init__(self, seconds: float):
        self.expired = False
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        _current.watchdog = None

    def watch(self, conn) -> None:
        with self._lock:
            self._conns.append(conn)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            conns = list(self._conns)
        for conn in conns:
            _shut(conn)


def _shut(conn) -> None:
    sock = conn.sock
    if sock is None:
        return
    try:
        # The plain socket's shutdown, also under TLS: it wakes a read blocked in another
        # thread without touching the TLS state that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current = threading.local()


class _Watched:
    """A connection its attempt's watchdog can shut (registered before connecting, so a TLS
    handshake that never ends is cut too; the connect itself has its own timeout)."""

    def connect(self):
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            if watchdog.expired:  # a slow DNS answer used the time up: send nothing this late
                raise TimeoutError("The attempt's deadline passed before connecting.")
            watchdog.watch(self)
        super().connect()
        if watchdog is not None and watchdog.expired:
            _shut(self)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WatchedPools:
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _OpenAdapter(_WatchedPools, HTTPAdapter):
    pass


class _FilteredAdapter(_WatchedPools, ssrf.ConnectedAddressFilter):
    pass


def session(limits: Limits) -> HTTPSession:
    """requests-hardened's session (no redirects, its IP filter on unless private targets are
    allowed), with watched connections."""
    s = HTTPSession(
        Config(
            ip_filter_enable=not limits.allow_private,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            # The watchdog ends the attempt; the read timeout only backs it up.
            default_timeout=(limits.connect, limits.deadline + 1),
            user_agent_override=USER_AGENT,
        )
    )
    for prefix, https in (("http://", False), ("https://", True)):
        if limits.allow_private:
            s.mount(prefix, _OpenAdapter())
        else:
            s.mount(prefix, _FilteredAdapter(is_https_proto=https, allow_loopback=False))
    return s


def _read_body(raw, cap: int) -> str:
    """Read (and drop) the body, at most `cap` bytes and one more to learn it is longer."""
    read = 0
    while chunk := raw.read(min(CHUNK, cap + 1 - read), decode_content=False):
        read += len(chunk)
        if read > cap:
            return f"The response body exceeds {cap} bytes; reading stopped there."
    return ""


def post(url: str, body: bytes, headers: dict, limits: Limits, clock=time.monotonic) -> Outcome:
    """One attempt. A failure to deliver is an `Outcome` with an error, never an exception."""
    start = clock()
    status_code, error = None, ""
    with _Watchdog(limits.deadline) as watchdog:
        try:
            with session(limits) as s:
                response = s.post(
                    url, data=body, headers=headers, stream=True, allow_redirects=False
                )
                with response:
                    status_code = response.status_code
                    error = _read_body(response.raw, limits.max_body)
        except Exception as exc:  # noqa: BLE001 — any failure to deliver is a failed attempt
            error = f"{type(exc).__name__}: {exc}"[:500]
    if watchdog.expired:
        # A read cut short by the watchdog may look like a complete one; the clock decides.
        error = f"No complete response within {limits.deadline:g} s; the attempt was cut."
    return Outcome(status_code, error, int((clock() - start) * 1000))
