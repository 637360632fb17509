"""The bulk path for backfills: NDJSON export files, a loopback file server, and server bulk imports.

    with NdjsonExportWriter(out_dir, namespace=ns) as writer:     # streaming, crash-safe
        for item in mapped_resources:
            writer.add(item.resource, key=item.key)
    manifest = writer.manifest

    with ExportFileServer(out_dir) as files:                      # only for a server that fetches the files
        importer = HapiImporter(base_url, file_credential=files.basic_credential)
        status = run_to_end(importer, importer.start(manifest, files.url), timeout=3600)

The importers (HAPI, Azure, Google Cloud, AWS HealthLake) live in :mod:`fhirpeer.bulk.importers`.
"""

from .errors import BulkExportError, ImportFailed, ImportRefused, ImportTimeout
from .file_server import ExportFileServer
from .manifest import IMPORT_ORDER, KEYS_FILE, MANIFEST_FILE, Manifest, OutputFile, read_manifest, verify_files
from .ndjson_files import NdjsonExportWriter

__all__ = [
    "IMPORT_ORDER",
    "KEYS_FILE",
    "MANIFEST_FILE",
    "BulkExportError",
    "ExportFileServer",
    "ImportFailed",
    "ImportRefused",
    "ImportTimeout",
    "Manifest",
    "NdjsonExportWriter",
    "OutputFile",
    "read_manifest",
    "verify_files",
]
