"""The operator's own API calls from the event loop: the ApiClient's TLS and credentials, uvloop as kopf
picks it."""

import asyncio
import ssl

from kubernetes.client import ApiClient, Configuration

from mlcd.handlers.kube import AsyncApi, LazyClient, _ssl_context, event_loop_factory


def configuration(host: str, **settings) -> Configuration:
    config = Configuration(host=host)
    for key, value in settings.items():
        setattr(config, key, value)
    return config


def test_tls_is_verified_as_the_api_client_verifies_it():
    assert _ssl_context(configuration("http://127.0.0.1:8080")) is False  # plain HTTP (the emulator)
    verified = _ssl_context(configuration("https://10.0.0.1:443"))
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    unverified = _ssl_context(configuration("https://10.0.0.1:443", verify_ssl=False))
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname


def test_the_bearer_token_is_the_clients_and_is_read_again_after_a_while(monkeypatch):
    reads = []
    config = configuration("http://127.0.0.1:8080", api_key={"authorization": "token-1"},
                           api_key_prefix={"authorization": "Bearer"})
    config.refresh_api_key_hook = lambda c: reads.append(c.api_key["authorization"])
    api = AsyncApi(LazyClient(ApiClient(config)))
    now = [1000.0]
    monkeypatch.setattr("mlcd.handlers.kube.time.monotonic", lambda: now[0])
    assert asyncio.run(api._auth()) == {"authorization": "Bearer token-1"}
    config.api_key["authorization"] = "token-2"  # the projected token rotated
    assert asyncio.run(api._auth()) == {"authorization": "Bearer token-1"} and len(reads) == 1  # cached
    now[0] += AsyncApi.AUTH_SECONDS
    assert asyncio.run(api._auth()) == {"authorization": "Bearer token-2"} and len(reads) == 2


def test_the_operator_runs_on_uvloop_when_it_is_installed():
    import uvloop

    assert event_loop_factory() is uvloop.new_event_loop
