// In-browser verification of an inclusion proof (RFC 9162 §2.1.3.2), with WebCrypto SHA-256.
// Reads the proof document from #proof-doc (the node's JSON: entry, proof.index, proof.size,
// proof.leaf_hash, proof.path) and the checkpoint from #checkpoint-note (a signed note whose
// text is origin, size, base64 root). The root is recomputed from the entry and the path and
// compared with the checkpoint's root; the verdict goes to #verify-result.
"use strict";
(function () {
  var HASH_LEN = 32;
  var MAX_PATH = 64;

  function fail(message) {
    var err = new Error(message);
    err.proofFailure = true;
    return err;
  }

  function fromBase64(text, where) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw fail(where + " is not standard base64");
    }
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out;
  }

  function hashValue(text, where) {
    var h = fromBase64(text, where);
    if (h.length !== HASH_LEN) {
      throw fail(where + " is " + h.length + " bytes, not " + HASH_LEN);
    }
    return h;
  }

  function concat(prefix, a, b) {
    var out = new Uint8Array(1 + a.length + (b ? b.length : 0));
    out[0] = prefix;
    out.set(a, 1);
    if (b) {
      out.set(b, 1 + a.length);
    }
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function hashLeaf(entry) {
    return sha256(concat(0x00, entry));
  }

  function hashChildren(left, right) {
    return sha256(concat(0x01, left, right));
  }

  function equal(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    var diff = 0;
    for (var i = 0; i < a.length; i++) {
      diff |= a[i] ^ b[i];
    }
    return diff === 0;
  }

  function count(value, where) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw fail(where + " is not a non-negative whole number");
    }
    return BigInt(value);
  }

  // RFC 9162 §2.1.3.2: the root a path leads to from the leaf hash at index in a tree of size.
  async function rootFromPath(leafHash, index, size, path) {
    if (index >= size) {
      throw fail("the index " + index + " is not below the tree size " + size);
    }
    var fn = index;
    var sn = size - 1n;
    var r = leafHash;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === 0n) {
        throw fail("the path is too long");
      }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await hashChildren(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await hashChildren(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) {
      throw fail("the path is too short");
    }
    return r;
  }

  function parseCheckpoint(note) {
    var lines = note.split("\n");
    if (lines.length < 4) {
      throw fail("the checkpoint is not a signed note");
    }
    if (!/^[0-9]+$/.test(lines[1])) {
      throw fail("the checkpoint's size line is not a number");
    }
    return { origin: lines[0], size: BigInt(lines[1]), root: hashValue(lines[2], "the checkpoint's root") };
  }

  async function verify(docText, noteText) {
    var doc;
    try {
      doc = JSON.parse(docText);
    } catch (e) {
      throw fail("the proof is not JSON");
    }
    if (!doc || typeof doc !== "object" || !doc.proof || typeof doc.proof !== "object") {
      throw fail("the document has no proof");
    }
    if (typeof doc.entry !== "string") {
      throw fail("the document has no log entry");
    }
    var proof = doc.proof;
    var checkpoint = parseCheckpoint(noteText);
    if (proof.origin !== checkpoint.origin) {
      throw fail("the proof is of the log " + JSON.stringify(proof.origin) + ", the checkpoint of " + JSON.stringify(checkpoint.origin));
    }
    var index = count(proof.index, "proof.index");
    var size = count(proof.size, "proof.size");
    if (size !== checkpoint.size) {
      throw fail("the proof is for tree size " + size + ", the checkpoint is of size " + checkpoint.size);
    }
    if (!Array.isArray(proof.path) || proof.path.length > MAX_PATH) {
      throw fail("proof.path is not a list of at most " + MAX_PATH + " hashes");
    }
    var path = proof.path.map(function (h, i) {
      return hashValue(h, "proof.path[" + i + "]");
    });
    var leaf = await hashLeaf(new TextEncoder().encode(doc.entry));
    if (!equal(leaf, hashValue(proof.leaf_hash, "proof.leaf_hash"))) {
      throw fail("the entry's hash is not the proof's leaf hash");
    }
    var root = await rootFromPath(leaf, index, size, path);
    if (!equal(root, checkpoint.root)) {
      throw fail("the root computed from the path does not match the checkpoint's root");
    }
    return { index: index, size: size };
  }

  function show(out, ok, text) {
    out.textContent = text;
    out.classList.remove("verify-ok", "verify-failed", "verify-pending");
    out.classList.add(ok ? "verify-ok" : "verify-failed");
    out.setAttribute("data-verdict", ok ? "verified" : "failed");
  }

  async function run() {
    var docEl = document.getElementById("proof-doc");
    var noteEl = document.getElementById("checkpoint-note");
    var out = document.getElementById("verify-result");
    if (!docEl || !noteEl || !out) {
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      show(out, false, "Not verified: this browser offers no WebCrypto here (it needs a secure context).");
      return;
    }
    try {
      var done = await verify(docEl.value, noteEl.textContent);
      show(out, true, "Verified in this browser: entry " + done.index + " is in the log of size " + done.size + " whose root the checkpoint signs.");
    } catch (e) {
      if (!e || !e.proofFailure) {
        show(out, false, "Verification failed: " + String(e));
      } else {
        show(out, false, "Verification failed in this browser: " + e.message + ".");
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("verify-button");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        run();
      });
    }
    run();
  });
})();
