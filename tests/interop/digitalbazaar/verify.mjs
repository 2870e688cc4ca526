// Verifies credentials with Digital Bazaar's libraries, offline, and prints the results as
// JSON on stdout (tests/interop/test_digitalbazaar.py runs it).
//
//   node verify.mjs manifest.json
//
// The manifest names every file the verifier may see, and nothing else is ever loaded:
//
//   {
//     "documents": {"<url or DID>": "<file>", ...},  // contexts, DID documents, status lists
//     "credentials": {"<name>": "<file>", ...}       // what to verify
//   }
//
// For each credential it reports what the wallet-side stack concludes:
//   vc          @digitalbazaar/vc verifyCredential with the eddsa-jcs-2022 cryptosuite and,
//               when the credential carries credentialStatus, the Bitstring Status List
//               check (which verifies each status list credential too); per proof and per
//               status entry
//   assertion   jsonld-signatures with AssertionProofPurpose alone: every proof is checked
//               against its own controller's DID document, as for a co-issuer's proof,
//               which the issuance purpose ties to the credential's `issuer`
//   jsonld      jsonld.js expansion in safe mode (fails on any dropped term or relative IRI)
import {readFileSync} from 'node:fs';

import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import * as vc from '@digitalbazaar/vc';
import jsigs from 'jsonld-signatures';
import jsonld from 'jsonld';

const {purposes: {AssertionProofPurpose}} = jsigs;

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function offlineLoader(documents) {
  const byUrl = new Map(
    Object.entries(documents).map(([url, file]) => [url, readJson(file)]));
  return async url => {
    const [base, fragment] = url.split('#');
    const document = byUrl.get(base);
    if(document === undefined) {
      throw new Error(`offline: ${url} is not among the given files`);
    }
    if(fragment === undefined || !base.startsWith('did:')) {
      return {contextUrl: null, documentUrl: url, document};
    }
    // A DID URL names one verification method: answer it with the DID document's
    // contexts, as DID resolvers (did-io) do.
    const method = (document.verificationMethod || []).find(
      m => m.id === url || m.id === `#${fragment}`);
    if(!method) {
      throw new Error(`offline: ${base} has no verification method #${fragment}`);
    }
    return {
      contextUrl: null,
      documentUrl: url,
      document: {'@context': document['@context'], ...method}
    };
  };
}

// Every message in an error, its aggregated errors and causes, in one line.
function describe(error) {
  if(!error) {
    return null;
  }
  const errors = Array.isArray(error) ? error : [error];
  return errors.map(e => {
    const inner = [...(e.errors || []), ...(e.cause ? [e.cause] : [])];
    const message = e.message || String(e);
    return inner.length ? `${message} (${describe(inner)})` : message;
  }).join('; ');
}

function proofs(result) {
  return (result.results || []).map(r => ({
    verificationMethod: r.proof?.verificationMethod ?? null,
    verified: r.verified === true,
    purposeValid: r.purposeResult ? r.purposeResult.valid === true : null,
    error: describe(r.error || r.purposeResult?.error)
  }));
}

function statuses(statusResult) {
  if(!statusResult) {
    return null;
  }
  return {
    verified: statusResult.verified === true,
    error: describe(statusResult.error),
    entries: (statusResult.results || []).map(r => ({
      purpose: r.credentialStatus?.statusPurpose ?? null,
      index: r.credentialStatus?.statusListIndex ?? null,
      list: r.credentialStatus?.statusListCredential ?? null,
      set: r.status === true
    }))
  };
}

async function check(credential, documentLoader) {
  const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
  const issued = await vc.verifyCredential({
    credential, suite, documentLoader, checkStatus
  });
  const asserted = await jsigs.verify(credential, {
    suite, documentLoader, purpose: new AssertionProofPurpose()
  });
  let expansion;
  try {
    await jsonld.expand(credential, {documentLoader, safe: true});
    expansion = {ok: true, error: null};
  } catch(e) {
    expansion = {ok: false, error: describe(e)};
  }
  return {
    vc: {
      verified: issued.verified === true,
      error: describe(issued.error),
      proofs: proofs(issued),
      status: statuses(issued.statusResult)
    },
    assertion: {
      verified: asserted.verified === true,
      error: describe(asserted.error),
      proofs: proofs(asserted)
    },
    jsonld: expansion
  };
}

const manifest = readJson(process.argv[2]);
const documentLoader = offlineLoader(manifest.documents);
const out = {};
for(const [name, file] of Object.entries(manifest.credentials)) {
  out[name] = await check(readJson(file), documentLoader);
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
