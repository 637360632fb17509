"""The bulk path for backfills, end to end: an export folder → NDJSON bulk files (`export`), and a server's bulk
import of those files → the state store a sync would have left (`importing`, `import_state`).

It sits above the sync engine and the bulk library and joins them: the mapping, checks, deterministic ids and
state store of sync; the files, manifest and importers of `fhirpeer.bulk`.
"""
