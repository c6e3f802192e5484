"""Where a webhook may be POSTed, and a POST that goes exactly there.

``check_webhook_url`` refuses a URL Callboard must not POST to and returns the addresses its host
resolved to; ``post`` sends the webhook to one of those very addresses (no second DNS lookup), so
a name that answers a public address when checked and a private one when connected (DNS
rebinding) cannot steer the POST. TLS still verifies the certificate against the host name (SNI
and ``Host`` are the URL's), and no proxy is taken from the environment (``HTTP_PROXY`` /
``HTTPS_PROXY`` would otherwise send the payload through a third party).

Refused addresses (unless ``CALLBOARD_WEBHOOK_ALLOW_PRIVATE``): anything Python's ``ipaddress``
does not call global (loopback, RFC 1918, RFC 4193, link-local and cloud metadata, shared,
reserved, documentation, unspecified), multicast, and the IPv6 forms that embed an IPv4 address or
are not global in practice although ``is_global`` may say so: IPv4-mapped ``::ffff:a.b.c.d`` (judged
by its IPv4 address), NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48`` (RFC 6052, RFC 8215), 6to4
``2002::/16`` (RFC 3056), Teredo ``2001::/32``, IPv4-compatible ``::a.b.c.d`` (RFC 4291, deprecated)
and site-local ``fec0::/10`` (RFC 3879, deprecated).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.errors import InvalidInput

# CALLBOARD_WEBHOOK_ALLOW_PRIVATE=1 lets webhooks reach loopback, private, link-local and other
# non-public addresses (a receiver on the same host or network, the tests' one on 127.0.0.1)
ALLOW_PRIVATE_ENV = "CALLBOARD_WEBHOOK_ALLOW_PRIVATE"
MAX_WEBHOOK_URL_LENGTH = 4096  # as the official server

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 networks that embed an IPv4 address or are not publicly routable in practice
_NOT_GLOBAL_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "64:ff9b::/96",  # NAT64 well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215)
        "2002::/16",  # 6to4 (RFC 3056)
        "2001::/32",  # Teredo (RFC 4380)
        "::/96",  # IPv4-compatible (RFC 4291 §2.5.5.1, deprecated), and :: / ::1
        "fec0::/10",  # site-local (RFC 3879, deprecated)
    )
)


class WebhookHostUnresolved(InvalidInput):
    """The webhook's host did not resolve. ``transient``: the resolver failed for a moment
    (``EAI_AGAIN``, a timeout), rather than answering that the name does not exist: the same
    URL may be accepted a moment later (a cron tries its occurrence again)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN
    return isinstance(exc, OSError)  # a timeout, a resolver unreachable


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL: its ``host``, ``port`` and the ``addresses`` (IP strings, in the
    resolver's order) the host resolved to when it was checked."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def private_webhooks_allowed(env: dict[str, str] | None = None) -> bool:
    """``Settings.webhook_allow_private`` (``CALLBOARD_WEBHOOK_ALLOW_PRIVATE``) of
    ``Settings.from_env(env)``, read at each call (a run's webhook is checked where no
    settings are at hand: ``app.run_requests.build_run``, from the API and the sweeper).

    Raises:
        ConfigurationError: a variable is not a valid value."""
    from app.config import Settings

    return Settings.from_env(env).webhook_allow_private


def is_public(address: IPAddress) -> bool:
    """Whether a webhook may be POSTed to ``address`` (module docstring: what is refused)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if any(address in net for net in _NOT_GLOBAL_V6):
            return False
    return address.is_global and not address.is_multicast


def check_webhook_url(url: str, *, allow_private: bool | None = None) -> WebhookTarget:
    """Refuse a webhook URL that Callboard must not POST to; return where it may POST.

    Accepted: an absolute ``http``/``https`` URL of at most 4096 printable characters (no
    control, whitespace or other non-printable character anywhere: they could split a request
    line or be read differently by the receiver) whose host resolves, with the system resolver
    (``getaddrinfo``), only to addresses ``is_public`` accepts, unless ``allow_private``
    (default: ``CALLBOARD_WEBHOOK_ALLOW_PRIVATE``).

    Raises:
        InvalidInput: why the URL is refused (the message names the webhook).
    """
    if allow_private is None:
        allow_private = private_webhooks_allowed()
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise InvalidInput(f"webhook: URL longer than {MAX_WEBHOOK_URL_LENGTH} characters")
    if not url.isprintable() or any(ch.isspace() for ch in url):
        raise InvalidInput("webhook: the URL contains control, space or non-printable characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("webhook: the URL must be absolute and use http or https")
    host = parts.hostname
    if not host:
        raise InvalidInput("webhook: the URL has no host")
    if port == 0:
        raise InvalidInput("webhook: port 0 is not a port to POST to")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise WebhookHostUnresolved(
            f"webhook: cannot resolve host {host!r} ({exc})", transient=_transient(exc)
        ) from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        if not allow_private and not is_public(ipaddress.ip_address(text)):
            raise InvalidInput(
                f"webhook: host {host!r} resolves to a non-public address ({text}); set "
                f"{ALLOW_PRIVATE_ENV}=1 to allow loopback and private addresses"
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise InvalidInput(f"webhook: host {host!r} resolves to no address")
    return WebhookTarget(url=url, host=host, port=port, addresses=tuple(addresses))


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write waits at most until ``deadline``
    (``time.monotonic()``): a peer that answers a byte at a time cannot stretch a request past
    it, as per-read timeouts alone would let it."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("webhook deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        kwargs["timeout"] = self._left(kwargs.get("timeout"), httpcore.ConnectTimeout)
        return _DeadlineStream(self.stream.start_tls(*args, **kwargs), self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, except that a connection to ``host`` goes to the checked
    ``addresses`` (tried in order) instead of resolving the name again, and that the
    connection's reads and writes end at ``deadline`` (``time.monotonic()``; None: no
    deadline)."""

    def __init__(self, host: str, addresses: Iterable[str], deadline: float | None = None) -> None:
        self.host = host.lower()
        self.addresses = tuple(addresses)
        self.deadline = deadline

    def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        if host.lower().strip("[]") != self.host.strip("[]"):
            raise httpcore.ConnectError(f"refusing to connect to {host!r}: not the webhook host")
        last: Exception | None = None
        for address in self.addresses:
            try:
                stream = super().connect_tcp(address, port, *args, **kwargs)
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return stream if self.deadline is None else _DeadlineStream(stream, self.deadline)
        raise last or httpcore.ConnectError(f"no address for {host!r}")


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that connects only to a checked ``WebhookTarget``'s addresses, with no
    proxy from the environment."""

    def __init__(self, target: WebhookTarget, deadline: float | None = None) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=1,
            network_backend=_PinnedBackend(target.host, target.addresses, deadline),
        )


def post(target: WebhookTarget, *, content: bytes, headers: dict[str, str], timeout: float) -> Any:
    """POST ``content`` to the checked ``target`` (redirects not followed: a redirect could lead
    anywhere), all within ``timeout`` seconds: connecting, sending, and reading the status line
    and headers. The body of the answer is never read (it is dropped with the connection,
    whatever its size). Returns the ``httpx.Response`` (status and headers); raises
    ``httpx.HTTPError`` on a transport error, ``httpx.TimeoutException`` past the deadline."""
    deadline = time.monotonic() + timeout
    with httpx.Client(transport=PinnedTransport(target, deadline), trust_env=False) as client:
        with client.stream(
            "POST",
            target.url,
            content=content,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            return response
