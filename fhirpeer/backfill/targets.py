"""Which bulk import a server offers, and the importer for it, from the server's FHIR base URL.

`--server` is always the FHIR base URL a later `sync` uses (the state store's target is that URL with the
namespace). The cloud importers start their jobs elsewhere, derived from it:

- Google Cloud Healthcare: ``https://healthcare.googleapis.com/v1/projects/P/locations/L/datasets/D/fhirStores/S/fhir``
  → ``fhirStores.import`` on ``projects/P/locations/L/datasets/D/fhirStores/S``
  (https://cloud.google.com/healthcare-api/docs/how-tos/fhir#accessing_the_fhir_store);
- AWS HealthLake: ``https://healthlake.REGION.amazonaws.com/datastore/ID/r4/`` → ``StartFHIRImportJob`` for data store
  ID in REGION (https://docs.aws.amazon.com/healthlake/latest/devguide/reference-healthlake-endpoints.html);
- Azure Health Data Services (``https://WORKSPACE-SERVICE.fhir.azurehealthcareapis.com``) and HAPI FHIR: ``$import``
  on the base itself.

`auto` tells them apart by those URL shapes, then by the CapabilityStatement's software name (HAPI FHIR; the
Microsoft FHIR Server behind Azure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..bulk.importers import AzureImporter, BulkImporter, GcpImporter, HapiImporter, HealthLakeImporter
from ..bulk.importers.gcp import API_ROOT
from ..errors import ConfigError
from ..transport.auth import Auth

_GOOGLE = re.compile(
    r"(?P<root>https://healthcare\.googleapis\.com/v1(?:beta1)?)/"
    r"(?P<store>projects/[^/]+/locations/[^/]+/datasets/[^/]+/fhirStores/[^/]+)/fhir/?"
)
_AWS = re.compile(r"https://healthlake\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/datastore/(?P<datastore>[^/]+)/r4/?")
_AZURE_HOST = ".fhir.azurehealthcareapis.com"


class ImportKind(StrEnum):
    """The bulk imports fhirpeer can run."""

    HAPI = "hapi"  # HAPI FHIR JPA $import; fhirpeer serves the files over loopback
    AZURE = "azure"  # Azure Health Data Services $import (incremental), from Azure Storage
    GOOGLE = "google"  # Cloud Healthcare fhirStores.import, from Cloud Storage
    AWS = "aws"  # HealthLake StartFHIRImportJob, from S3


@dataclass(frozen=True)
class AwsImportSettings:
    """What HealthLake needs besides the files: the role it assumes to read them and write its results, where
    (and under which KMS key) it writes them, and botocore credentials to sign the calls."""

    data_access_role_arn: str
    output_s3_uri: str
    kms_key_id: str
    credentials: Any


def kind_from_url(server: str) -> ImportKind | None:
    """The import a FHIR base URL's shape names (None: the URL does not tell)."""
    if _GOOGLE.fullmatch(server):
        return ImportKind.GOOGLE
    if _AWS.fullmatch(server):
        return ImportKind.AWS
    if (urlsplit(server).hostname or "").endswith(_AZURE_HOST):
        return ImportKind.AZURE
    return None


def kind_from_software(software_name: str | None) -> ImportKind | None:
    """The import a CapabilityStatement's `software.name` names (None: unknown software)."""
    name = (software_name or "").lower()
    if "hapi" in name:
        return ImportKind.HAPI
    if "microsoft" in name:
        return ImportKind.AZURE
    return None


def needs_location(kind: ImportKind) -> bool:
    """Cloud imports read the parts from the caller's storage (uploaded beforehand); HAPI's are served by fhirpeer."""
    return kind is not ImportKind.HAPI


def importer_for(
    kind: ImportKind,
    server: str,
    *,
    auth: Auth | None,
    file_credential: str | None = None,
    aws: AwsImportSettings | None = None,
) -> BulkImporter:
    """The importer for `kind` at the FHIR base `server`."""
    if kind is ImportKind.HAPI:
        return HapiImporter(server, auth=auth, file_credential=file_credential)
    if kind is ImportKind.AZURE:
        return AzureImporter(server, auth=auth)
    if kind is ImportKind.GOOGLE:
        match = _GOOGLE.fullmatch(server)
        if match is None:
            raise ConfigError(
                "Google Cloud import: --server must be the FHIR store's base URL, "
                "https://healthcare.googleapis.com/v1/projects/P/locations/L/datasets/D/fhirStores/S/fhir"
            )
        return GcpImporter(match["store"], auth=auth, api_root=match["root"] or API_ROOT)
    match = _AWS.fullmatch(server)
    if match is None:
        raise ConfigError(
            "AWS HealthLake import: --server must be the data store's FHIR base URL, "
            "https://healthlake.REGION.amazonaws.com/datastore/ID/r4/"
        )
    if aws is None:
        raise ConfigError("AWS HealthLake import needs the data access role, the output S3 URI and the KMS key id")
    return HealthLakeImporter(
        match["datastore"], region=match["region"], credentials=aws.credentials,
        data_access_role_arn=aws.data_access_role_arn, output_s3_uri=aws.output_s3_uri, kms_key_id=aws.kms_key_id,
    )  # fmt: skip
