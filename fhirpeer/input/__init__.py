"""The reading stage: an export folder's CSV files → domain records (or rejections), streaming.

Only this package reads CSV; every later stage works on `fhirpeer.records` and `fhirpeer.domain` values.
"""
