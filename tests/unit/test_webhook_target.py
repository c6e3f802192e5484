"""Webhook URLs refused at creation (no server needed: IP literals resolve without DNS)."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.webhook_target import check_webhook_url

# IPv6 forms that embed an IPv4 address or are not global in practice
REFUSED_V6 = [
    pytest.param("http://[64:ff9b::808:808]/hook", id="nat64-public-v4"),
    pytest.param("http://[64:ff9b::7f00:1]/hook", id="nat64-loopback"),
    pytest.param("http://[64:ff9b:1::a00:1]/hook", id="nat64-local-use"),
    pytest.param("http://[2002:7f00:1::1]/hook", id="6to4-loopback"),
    pytest.param("http://[2002:808:808::1]/hook", id="6to4-public"),
    pytest.param("http://[::808:808]/hook", id="ipv4-compatible-public"),
    pytest.param("http://[::a00:1]/hook", id="ipv4-compatible-private"),
    pytest.param("http://[::ffff:127.0.0.1]/hook", id="ipv4-mapped-loopback"),
    pytest.param("http://[fec0::1]/hook", id="site-local"),
    pytest.param("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", id="teredo"),
    pytest.param("http://[fd00::1]/hook", id="unique-local"),
    pytest.param("http://[fe80::1]/hook", id="link-local"),
]


@pytest.mark.parametrize("url", REFUSED_V6)
def test_ipv6_forms_that_are_not_global_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="non-public"):
        check_webhook_url(url, allow_private=False)


CONTROL = [
    pytest.param("http://93.184.215.14/a\x00b", id="nul"),
    pytest.param("http://93.184.215.14/a\r\nX-Injected: 1", id="crlf"),
    pytest.param("http://93.184.215.14/a\tb", id="tab"),
    pytest.param("http://93.184.215.14/a b", id="space"),
    pytest.param("http://93.184.215.14/a\x7fb", id="del"),
    pytest.param("http://93.184.215.14/a\x85b", id="c1-next-line"),
    pytest.param("http://93.184.215.14/a\u200bb", id="zero-width-space"),
    pytest.param("http://93.184.215.14\u2028/hook", id="line-separator"),
]


@pytest.mark.parametrize("url", CONTROL)
def test_control_and_non_printable_characters_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="control, space or non-printable"):
        check_webhook_url(url, allow_private=True)


def test_public_addresses_are_accepted_and_returned_as_checked() -> None:
    target = check_webhook_url("https://[2606:4700::1111]/hook", allow_private=False)
    assert (target.host, target.port, target.addresses) == (
        "2606:4700::1111",
        443,
        ("2606:4700::1111",),
    )
    target = check_webhook_url("http://93.184.215.14:8080/h?q=é", allow_private=False)
    assert (target.port, target.addresses) == (8080, ("93.184.215.14",))
