"""The shipped placeholder namespace is refused off this machine."""

from __future__ import annotations

import pytest

from fhirpeer.errors import ConfigError
from fhirpeer.mapping_files import load_mappings
from fhirpeer.namespace_guard import PLACEHOLDER_NAMESPACE, is_loopback, refuse_placeholder_namespace


def test_the_placeholder_is_what_the_mappings_ship() -> None:
    assert load_mappings().identifiers.namespace == PLACEHOLDER_NAMESPACE


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://127.0.0.1:8080/fhir", True), ("http://127.3.4.5/fhir", True), ("http://localhost/fhir", True),
     ("http://[::1]:8080/fhir", True), ("http://fhir.localhost/fhir", True), ("https://hapi.fhir.org/baseR4", False),
     ("http://10.0.0.5/fhir", False), ("http://128.0.0.1/fhir", False), ("http://localhost.example.org/", False)],
)  # fmt: skip
def test_loopback_is_this_machine_only(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_placeholder_refused_remote_allowed_local_and_own_namespace_allowed_anywhere() -> None:
    with pytest.raises(ConfigError, match="Set your own namespace"):
        refuse_placeholder_namespace("https://hapi.fhir.org/baseR4", PLACEHOLDER_NAMESPACE + "/")
    refuse_placeholder_namespace("http://127.0.0.1:8080/fhir", PLACEHOLDER_NAMESPACE)
    refuse_placeholder_namespace("https://hapi.fhir.org/baseR4", "https://peer.hospital.example")
