#!/usr/bin/env python3
"""Capture HAPI FHIR's real answers to the cases fhirpeer must handle, for the unit tests that replay them.

Each case is produced for real on a local HAPI FHIR JPA server (`tools/hapi-server`): two resources with one
identifier for the 412s, an unresolvable conditional reference for the 404, a stale If-Match, paging, empty-body
answers, the CapabilityStatement. Answers are written to `tests/fixtures/http/hapi/<case>.json` with the server's
base URL replaced by `http://hapi.test/fhir` (nothing else is changed).

    python tools/capture_hapi_answers.py                 # builds and starts a HAPI of its own, then stops it
    python tools/capture_hapi_answers.py --server URL    # or uses a running one (writes under its own namespace)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "http" / "hapi"
CAPABILITY_OUT = REPO / "tests" / "fixtures" / "capability" / "hapi.json"
TOOL = REPO / "tools" / "hapi-server" / "hapi-server"
PLACEHOLDER = "http://hapi.test/fhir"
FHIR_JSON = "application/fhir+json"
KEPT_HEADERS = ("Location", "Content-Location", "ETag")


class Capture:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.ns = f"https://capture.fhirpeer.test/{uuid.uuid4().hex[:8]}"
        self.http = requests.Session()
        self.http.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})

    def system(self, name: str) -> str:
        return f"{self.ns}/sid/{name}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base}/{path}"
        return self.http.request(method, url, json=body, headers=headers, timeout=120)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> requests.Response:
        response = self.call(method, path, body, **headers)
        if response.status_code >= 300:
            raise SystemExit(f"setup step {method} {path} failed: HTTP {response.status_code} {response.text[:500]}")
        return response

    def save(self, name: str, method: str, path: str, response: requests.Response, note: str) -> None:
        try:
            body: Any = response.json() if response.content.strip() else None
        except ValueError:
            body = response.text
        record = {
            "captured_from": self.software,
            "case": note,
            "request": {"method": method, "path": self._placeholder(path)},
            "status": response.status_code,
            "headers": {h: self._placeholder(response.headers[h]) for h in KEPT_HEADERS if h in response.headers},
            "body": json.loads(self._placeholder(json.dumps(body))) if body is not None else None,
        }
        (OUT / f"{name}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{name}: HTTP {response.status_code}")

    def _placeholder(self, text: str) -> str:
        ns, test_ns = self.ns, "https://ns.test"
        for encoded in (quote(ns, safe=""), quote(ns, safe="/:")):
            text = text.replace(encoded, quote(test_ns, safe="") if "%2F" in encoded else test_ns)
        return text.replace(self.base, PLACEHOLDER).replace(ns, test_ns)

    def encounter(self, key: str, system: str, **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Encounter",
            "identifier": [{"system": system, "value": key}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            **extra,
        }

    def run(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        metadata = self.ok("GET", "metadata").json()
        self.software = f"{metadata['software']['name']} {metadata['software']['version']} (tools/hapi-server)"
        CAPABILITY_OUT.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        print(f"capability statement: {CAPABILITY_OUT.relative_to(REPO)}")
        enc_system, pat_system = self.system("peer-contact"), self.system("patient-mrn")

        # two Encounters with one identifier: conditional create and conditional update both match twice
        for _ in range(2):
            self.ok("POST", "Encounter", self.encounter("DUP-1", enc_system))
        path = "Encounter"
        response = self.call("POST", path, self.encounter("DUP-1", enc_system),
                             **{"If-None-Exist": f"identifier={enc_system}|DUP-1"})  # fmt: skip
        self.save("412_hapi0958_create_multiple_matches", "POST", path, response,
                  "conditional create (If-None-Exist) matching two resources")  # fmt: skip
        path = f"Encounter?identifier={enc_system}|DUP-1"
        response = self.call("PUT", path, self.encounter("DUP-1", enc_system))
        self.save("412_hapi0988_update_multiple_matches", "PUT", path, response,
                  "conditional update matching two resources")  # fmt: skip

        # conditional references inside a transaction: no match, two matches
        for _ in range(2):
            self.ok(
                "POST", "Patient", {"resourceType": "Patient", "identifier": [{"system": pat_system, "value": "TWIN"}]}
            )

        def with_subject(reference: str, key: str) -> dict[str, Any]:
            entry = {"resource": self.encounter(key, enc_system, subject={"reference": reference}),
                     "request": {"method": "PUT", "url": f"Encounter?identifier={enc_system}|{key}"}}  # fmt: skip
            return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}

        response = self.call("POST", "", with_subject(f"Patient?identifier={pat_system}|NOBODY", "REF-0"))
        self.save("404_hapi1091_conditional_reference_no_match", "POST", "", response,
                  "transaction whose conditional reference matches nothing")  # fmt: skip
        response = self.call("POST", "", with_subject(f"Patient?identifier={pat_system}|TWIN", "REF-2"))
        self.save("412_hapi1092_conditional_reference_multiple_matches", "POST", "", response,
                  "transaction whose conditional reference matches two resources")  # fmt: skip

        # a resource that does not satisfy its own match URL: `+` sent unencoded is decoded as a space
        path = f"Encounter?identifier={enc_system}|A+B"
        response = self.call("PUT", path, self.encounter("A+B", enc_system))
        self.save("400_hapi0929_resource_does_not_match_url", "PUT", path, response,
                  "conditional update whose resource does not match its URL (unencoded +)")  # fmt: skip

        # a stale If-Match
        self.ok("PUT", "Encounter/fpstale1", {**self.encounter("STALE", enc_system), "id": "fpstale1"})
        self.ok(
            "PUT", "Encounter/fpstale1", {**self.encounter("STALE", enc_system, status="cancelled"), "id": "fpstale1"}
        )
        path = "Encounter/fpstale1"
        response = self.call(
            "PUT", path, {**self.encounter("STALE", enc_system), "id": "fpstale1"}, **{"If-Match": 'W/"1"'}
        )
        self.save("409_hapi0989_stale_if_match", "PUT", path, response, "update with If-Match on an older version")

        # numeric client ids are refused (client id strategy ALPHANUMERIC, as the public sandbox)
        path = "Patient/123"
        response = self.call("PUT", path, {"resourceType": "Patient", "id": "123"})
        self.save("400_hapi0960_numeric_client_id", "PUT", path, response, "PUT with a purely numeric client id")

        # empty bodies (Prefer: return=minimal): create and update by id, a matched conditional create
        pid = "fpminimal1"
        patient = {"resourceType": "Patient", "id": pid, "identifier": [{"system": pat_system, "value": "MIN-1"}]}
        for name, note in (("201_empty_put_create", "PUT Type/id that creates, return=minimal"),
                           ("200_empty_put_update", "PUT Type/id that updates, return=minimal")):  # fmt: skip
            response = self.call("PUT", f"Patient/{pid}", patient, Prefer="return=minimal")
            self.save(name, "PUT", f"Patient/{pid}", response, note)
            patient = {**patient, "gender": "unknown"}
        response = self.call("POST", "Patient", patient, Prefer="return=minimal",
                             **{"If-None-Exist": f"identifier={pat_system}|MIN-1"})  # fmt: skip
        self.save("200_empty_conditional_create_matched", "POST", "Patient", response,
                  "conditional create that matched an existing resource, return=minimal")  # fmt: skip

        # paging: five resources, two per page; HAPI's next links are base?_getpages=…
        page_system = self.system("page")
        for i in range(5):
            identifier = {"system": page_system, "value": f"P{i}"}
            self.ok(
                "PUT", f"Patient/fppage{i}", {"resourceType": "Patient", "id": f"fppage{i}", "identifier": [identifier]}
            )
        path = f"Patient?identifier={page_system}|&_count=2&_sort=_id"
        response = self.call("GET", path, **{"Cache-Control": "no-cache"})
        self.save("search_page1", "GET", path, response, "first page of a search with _count=2")
        for n in (2, 3):
            link = next((x["url"] for x in response.json().get("link", []) if x["relation"] == "next"), None)
            if link is None:
                raise SystemExit(f"page {n - 1} has no next link")
            response = self.call("GET", link)
            self.save(f"search_page{n}", "GET", link, response, f"page {n}, from the previous page's next link")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="a running HAPI FHIR base URL (default: start tools/hapi-server)")
    args = parser.parse_args()
    if args.server:
        Capture(args.server).run()
        return 0
    with tempfile.TemporaryDirectory() as data:
        subprocess.run([str(TOOL), "build"], check=True)
        probe = "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
        port = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
        base = subprocess.run([str(TOOL), "start", "--port", port, "--data", data, "--in-memory"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        try:
            Capture(base).run()
        finally:
            subprocess.run([str(TOOL), "stop", "--data", data], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
