"""The endpoint rules of rest-hooks (no server-side request forgery), on literal addresses."""

from __future__ import annotations

import pytest

from fhir_server.subscriptions import EndpointRefused, check_endpoint


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback: only when listed
        "https://10.1.2.3/hook",  # private
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/hook",
        "https://[fd00::1]/hook",  # unique local
        "https://0.0.0.0/hook",
        "http://93.184.216.34/hook",  # public but http
        "https://user:pass@93.184.216.34/hook",
        "gopher://93.184.216.34/",
    ],
)
async def test_refused_without_allow_list(url: str) -> None:
    with pytest.raises(EndpointRefused):
        await check_endpoint(url, ())


async def test_public_https_allowed_and_allow_list_enforced() -> None:
    await check_endpoint("https://93.184.216.34/hook", ())
    await check_endpoint("http://127.0.0.1:8080/hook", ("127.0.0.1",))
    with pytest.raises(EndpointRefused):
        await check_endpoint("https://93.184.216.34/hook", ("hooks.example.fr",))
    with pytest.raises(EndpointRefused):  # listed, but http to a non-loopback address
        await check_endpoint("http://10.1.2.3/hook", ("10.1.2.3",))
    await check_endpoint("https://10.1.2.3/hook", ("10.1.2.3",))  # an internal host the operator listed
