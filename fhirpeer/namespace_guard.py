"""The identifier namespace shipped in `mappings/identifiers.yaml` is a placeholder: fine for the demo and tests
on this machine, never for a real server, where every identifier system fhirpeer writes would sit under a domain
that is not the site's — and could collide with anyone else who kept it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import ConfigError

#: The namespace `mappings/identifiers.yaml` ships with.
PLACEHOLDER_NAMESPACE = "https://fhir.example.org"


def is_loopback(url: str) -> bool:
    """True for http(s) URLs on this machine: localhost, 127.0.0.0/8, ::1."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_placeholder_namespace(server: str, namespace: str) -> None:
    """ConfigError (exit 2) when the placeholder namespace would be written to a server off this machine."""
    if namespace.rstrip("/") != PLACEHOLDER_NAMESPACE or is_loopback(server):
        return
    raise ConfigError(
        f"the identifier namespace is the shipped placeholder {PLACEHOLDER_NAMESPACE}, and {urlsplit(server).netloc} "
        "is not on this machine; nothing was written. Set your own namespace (a URL your organisation controls, "
        "e.g. https://fhir.your-hospital.org/peer-recovery): --namespace URI, `namespace:` in the config file, "
        "or FHIRPEER_NAMESPACE. Keep it the same for every run against this server."
    )
