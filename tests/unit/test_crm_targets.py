"""The private-network rule for outbound CRM targets, and how Outbound applies it at delivery time."""

from __future__ import annotations

import ipaddress

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st

from adapters.crm.base import Outbound, PermanentDeliveryError, RetryableDeliveryError, outbound_session
from adapters.crm.targets import check_url
from tests.receiver import Receiver

PUBLIC_IP = "93.184.216.34"


def resolves_to(*addresses: str):
    return lambda host: list(addresses)


def allowed(url: str, *, private: bool = False, addresses: tuple[str, ...] = (PUBLIC_IP,)) -> bool:
    try:
        check_url(url, allow_private_networks=private, resolve=resolves_to(*addresses))
    except ValueError:
        return False
    return True


def test_a_refusal_the_deployment_can_lift_names_the_setting_and_only_that_one():
    """An operator pointing a webhook at a local receiver was told only 'not allowed'."""
    with pytest.raises(ValueError, match="CRM_ALLOW_PRIVATE_NETWORKS=true") as caught:
        check_url("http://127.0.0.1:8125/hook", allow_private_networks=False, resolve=resolves_to())
    assert "loopback" in str(caught.value)
    with pytest.raises(ValueError, match="10.0.0.7.*CRM_ALLOW_PRIVATE_NETWORKS"):
        check_url("https://crm.internal/", allow_private_networks=False, resolve=resolves_to("10.0.0.7"))
    for private in (False, True):
        with pytest.raises(ValueError) as caught:
            check_url("http://169.254.169.254/", allow_private_networks=private, resolve=resolves_to())
        assert "CRM_ALLOW_PRIVATE_NETWORKS" not in str(caught.value)


def test_public_https_and_http_targets_are_allowed():
    assert allowed("https://api.hubapi.com/crm")
    assert allowed("http://hooks.example.com:8080/in")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "example.com/hook", "https://", "https://h:99999/"]
)
def test_non_http_or_malformed_urls_are_refused(url):
    assert not allowed(url)


def test_credentials_in_the_url_are_refused():
    assert not allowed("https://user:pw@example.com/")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
    ],
)
def test_link_local_and_metadata_literals_are_refused_even_when_private_networks_are_allowed(url):
    assert not allowed(url, private=True)


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "64:ff9b::169.254.169.254", "2002:a9fe:a9fe::1"])
def test_nat64_and_6to4_spellings_of_the_metadata_address_are_refused_whatever_the_setting(address):
    for private in (False, True):
        assert not allowed(f"http://[{address}]/", private=private)
        assert not allowed("https://h.example.com/", private=private, addresses=(address,))


@pytest.mark.parametrize("address", ["2002:a00:1::1", "2002:7f00:1::1", "2002:c0a8:101::"])
def test_6to4_addresses_carrying_a_private_ipv4_address_need_allow_private_networks(address):
    assert not allowed("https://h.example.com/", addresses=(address,))
    assert allowed("https://h.example.com/", private=True, addresses=(address,))


@pytest.mark.parametrize("url", ["http://169.254.169.254./latest/", "http://10.0.0.1.:80/"])
def test_an_address_with_a_trailing_dot_is_that_address_not_a_name_to_resolve(url):
    """The resolver here answers a public address for any name, as a wildcard DNS server would."""
    assert not allowed(url)


def test_a_hostname_resolving_to_the_metadata_address_is_refused_even_when_private_is_allowed():
    assert not allowed("https://innocent.example.com/", private=True, addresses=("169.254.169.254",))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "0.0.0.0",
        "::1",
        "fc00::1",
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_loopback_private_and_special_addresses_need_allow_private_networks(address):
    assert not allowed("https://crm.internal/", addresses=(address,))
    assert allowed("https://crm.internal/", private=True, addresses=(address,))


def test_one_forbidden_address_among_several_is_enough_to_refuse():
    assert not allowed("https://mixed.example.com/", addresses=(PUBLIC_IP, "10.0.0.7"))


def test_the_message_names_the_host_but_not_the_path_or_query():
    with pytest.raises(ValueError) as caught:
        check_url(
            "https://crm.internal/hooks/s3cr3t-path?token=abc",
            allow_private_networks=False,
            resolve=resolves_to("10.0.0.7"),
        )
    message = str(caught.value)
    assert "crm.internal" in message and "10.0.0.7" in message
    assert "s3cr3t" not in message and "abc" not in message


def test_a_host_that_does_not_resolve_raises_oserror_not_valueerror():
    def fail(host):
        raise OSError("Name or service not known")

    with pytest.raises(OSError):
        check_url("https://nowhere.invalid/", allow_private_networks=False, resolve=fail)


@given(st.integers(min_value=0, max_value=2**16 - 1), st.booleans())
def test_every_169_254_address_is_refused_whatever_the_setting(suffix, allow_private):
    address = str(ipaddress.IPv4Address("169.254.0.0") + suffix)
    assert not allowed("https://h.example.com/", private=allow_private, addresses=(address,))


@given(
    st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]), st.integers(0, 2**20)
)
def test_every_private_ipv4_address_is_refused_by_default(network, offset):
    net = ipaddress.IPv4Network(network)
    address = str(net.network_address + offset % net.num_addresses)
    assert not allowed("https://h.example.com/", addresses=(address,))


# Outbound: the same rule at delivery time, and the request wrapper.


def outbound(*addresses: str, allow_private: bool = False) -> Outbound:
    return Outbound(
        session=requests.Session(), allow_private_networks=allow_private, resolve=resolves_to(*addresses)
    )


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_check_target_refuses_a_forbidden_target_permanently_without_any_request(mock):
    with pytest.raises(PermanentDeliveryError) as caught:
        outbound("169.254.169.254").request("POST", "https://hooks.example.com/in")
    assert "169.254.169.254" in str(caught.value)
    assert len(mock.calls) == 0


def test_check_target_treats_a_dns_failure_as_retryable():
    def fail(host):
        raise OSError("temporary failure in name resolution")

    out = Outbound(session=requests.Session(), resolve=fail)
    with pytest.raises(RetryableDeliveryError):
        out.check_target("https://hooks.example.com/in")


def test_request_does_not_follow_redirects(mock):
    mock.add(
        responses.POST, "https://hooks.example.com/in", status=302, headers={"Location": "http://10.0.0.1/"}
    )
    response = outbound(PUBLIC_IP).request("POST", "https://hooks.example.com/in")
    assert response.status_code == 302
    assert len(mock.calls) == 1


def test_request_timeout_is_retryable_and_the_message_omits_the_query(mock):
    url = "https://hooks.example.com/in?key=sekrit"
    mock.add(responses.POST, url, body=requests.exceptions.ConnectTimeout())
    with pytest.raises(RetryableDeliveryError) as caught:
        outbound(PUBLIC_IP).request("POST", url)
    assert "hooks.example.com" in str(caught.value)
    assert "sekrit" not in str(caught.value)


def test_request_connection_error_is_retryable(mock):
    mock.add(responses.GET, "https://hooks.example.com/", body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(RetryableDeliveryError):
        outbound(PUBLIC_IP).request("GET", "https://hooks.example.com/")


def test_request_applies_the_outbound_timeout():
    seen = {}

    class Session(requests.Session):
        def request(self, method, url, **kwargs):
            seen.update(kwargs)
            response = requests.Response()
            response.status_code = 204
            return response

    Outbound(session=Session(), resolve=resolves_to(PUBLIC_IP), timeout=3.5).request(
        "GET", "https://x.example/"
    )
    assert seen["timeout"] == 3.5
    assert seen["allow_redirects"] is False


# outbound_session: the address actually connected to is checked, not only the one check_url resolved.


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_a_name_resolving_public_to_the_check_but_connecting_to_loopback_is_refused(receiver):
    """DNS rebinding: the injected resolver answers a public address to check_url, while the connection
    resolves `localhost` for real and lands on the local receiver."""
    out = Outbound(session=outbound_session(False), resolve=resolves_to(PUBLIC_IP))
    url = receiver.url.replace("127.0.0.1", "localhost")
    with pytest.raises(PermanentDeliveryError) as caught:
        out.request("POST", url, data=b"{}")
    assert "127.0.0.1" in str(caught.value) and "refused" in str(caught.value)
    assert receiver.attempts == []


def test_outbound_session_reaches_a_local_receiver_when_private_networks_are_allowed(receiver):
    out = Outbound(
        session=outbound_session(True), allow_private_networks=True, resolve=resolves_to("127.0.0.1")
    )
    assert out.request("POST", receiver.url.replace("127.0.0.1", "localhost"), data=b"{}").status_code == 200
    assert len(receiver.attempts) == 1


def test_outbound_session_ignores_proxies_from_the_environment(receiver, monkeypatch):
    """Through a proxy, the proxy picks the address: the peer checked would be the proxy's."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    out = Outbound(
        session=outbound_session(True), allow_private_networks=True, resolve=resolves_to("127.0.0.1")
    )
    assert out.request("POST", receiver.url, data=b"{}").status_code == 200
