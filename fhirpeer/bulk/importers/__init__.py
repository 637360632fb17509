"""Bulk import targets behind one interface (:class:`BulkImporter`: ``start`` → :class:`ImportJob`, ``poll`` →
:class:`ImportStatus`) and the shared :func:`run_to_end` loop.

:class:`HealthLakeImporter` needs the ``aws`` extra and :class:`~.google_credentials.GoogleCredentials` the ``gcp``
extra; both import their library only when constructed.
"""

from .aws import HealthLakeImporter
from .azure import AzureImporter
from .base import BulkImporter, ImportInput, ImportJob, ImportState, ImportStatus, run_to_end
from .gcp import GcpImporter
from .hapi import HapiImporter
from .http import ImportHttp

__all__ = [
    "AzureImporter",
    "BulkImporter",
    "GcpImporter",
    "HapiImporter",
    "HealthLakeImporter",
    "ImportHttp",
    "ImportInput",
    "ImportJob",
    "ImportState",
    "ImportStatus",
    "run_to_end",
]
