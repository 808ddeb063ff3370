// Lodestone: check a batch's offline bundle in this browser (docs/CONSOLE.md), with WebCrypto
// only: SHA-256 and Ed25519. Nothing here trusts the server that served the page: the log key
// is typed (or pasted) by the reader and remembered in this browser's localStorage, never filled
// in from the server.
//
// What is checked (docs/FORMAT.md): the bundle's checkpoint is a C2SP signed note
// (c2sp.org/signed-note) whose body is a C2SP tlog-checkpoint (origin, size, base64 root); one
// signature line must carry the pinned key's name and 4-byte key id, and verify with Ed25519
// over the note body. Then every entry's RFC 6962 leaf hash SHA-256(0x00 || entry bytes) must
// lead, through its RFC 9162 §2.1.3.2 inclusion proof, to the checkpoint's root.
"use strict";
(function () {
  const enc = new TextEncoder();
  const $ = (id) => document.getElementById(id);

  function b64(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  class Failure extends Error {}

  // "<name>+<8 hex key id>+<base64(0x01 || 32-byte key)>"
  async function parseKey(text) {
    // The base64 part may itself contain "+": split at the first two only.
    const t = text.trim();
    const i = t.indexOf("+");
    const j = i < 0 ? -1 : t.indexOf("+", i + 1);
    if (i <= 0 || j < 0) throw new Failure("the log key is not name+keyid+base64 (as in log.pub)");
    const name = t.slice(0, i), id = t.slice(i + 1, j), key = t.slice(j + 1);
    let raw;
    try { raw = b64(key); } catch (e) { throw new Failure("the log key's third part is not base64"); }
    if (raw.length !== 33 || raw[0] !== 1) throw new Failure("the log key is not an Ed25519 note key (0x01 and 32 bytes)");
    const expected = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
    if (hex(expected) !== id.toLowerCase()) throw new Failure("the log key's id " + id + " does not match its name and key");
    return { name, id: expected, pub: raw.slice(1), text: text.trim() };
  }

  async function checkNote(note, key) {
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Failure("the checkpoint is not a signed note (no blank line before the signatures)");
    const body = note.slice(0, split + 1);
    const lines = note.slice(split + 2).split("\n").filter((l) => l.length > 0);
    const pub = await crypto.subtle.importKey("raw", key.pub, { name: "Ed25519" }, false, ["verify"]);
    let signed = false;
    for (const line of lines) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m || m[1] !== key.name) continue;
      const sig = b64(m[2]);
      if (sig.length !== 68 || !equal(sig.slice(0, 4), key.id)) continue;
      if (await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.slice(4), enc.encode(body))) {
        signed = true;
        break;
      }
      throw new Failure("the checkpoint's signature by " + key.name + " does not verify: the checkpoint was altered or signed by another key");
    }
    if (!signed) throw new Failure("the checkpoint carries no signature by the pinned key " + key.name);
    const head = body.split("\n");
    if (head.length < 4) throw new Failure("the checkpoint body has no origin, size and root");
    const size = Number(head[1]);
    if (!/^[0-9]+$/.test(head[1]) || !Number.isSafeInteger(size)) throw new Failure("the checkpoint size is not a number");
    const root = b64(head[2]);
    if (root.length !== 32) throw new Failure("the checkpoint root is not 32 bytes");
    return { origin: head[0], size, root };
  }

  // RFC 9162 §2.1.3.2: verify an inclusion proof for leaf `index` of a tree of `size`.
  async function rootFromProof(index, size, leafHash, proof) {
    if (index >= size) throw new Failure("entry " + index + " is beyond the checkpoint size " + size);
    let fn = index, sn = size - 1, r = leafHash;
    for (const p of proof) {
      if (sn === 0) throw new Failure("entry " + index + ": the inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(concat(new Uint8Array([1]), p, r));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha256(concat(new Uint8Array([1]), r, p));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Failure("entry " + index + ": the inclusion proof is too short");
    return r;
  }

  async function verifyBundle(bundle, keyText) {
    if (!crypto.subtle) throw new Failure("this browser offers no WebCrypto here (open the page over http://127.0.0.1 or https)");
    const key = await parseKey(keyText);
    if (!bundle || bundle.format !== "lodestone-bundle/v1") throw new Failure("not a lodestone-bundle/v1 bundle");
    const cp = await checkNote(String(bundle.checkpoint), key);
    if (!Array.isArray(bundle.entries) || bundle.entries.length === 0) throw new Failure("the bundle holds no entries");
    for (const e of bundle.entries) {
      let leaf;
      try { leaf = b64(e.leaf); } catch (x) { throw new Failure("entry " + e.index + ": its bytes are not base64"); }
      const leafHash = await sha256(concat(new Uint8Array([0]), leaf));
      const proof = (e.proof || []).map((h) => b64(h));
      const root = await rootFromProof(Number(e.index), cp.size, leafHash, proof);
      if (!equal(root, cp.root)) throw new Failure("entry " + e.index + ": its inclusion proof does not lead to the checkpoint's root (the entry or its proof was altered)");
    }
    return { entries: bundle.entries.length, size: cp.size, origin: cp.origin, key: key.name };
  }

  function show(ok, text) {
    const out = $("verify-result");
    out.className = ok ? "ok" : "bad";
    out.textContent = text;
  }

  async function run(getBundle) {
    const keyText = $("log-key").value;
    show(false, "checking…");
    $("verify-result").className = "";
    try {
      if (!keyText.trim()) throw new Failure("pin the log key first: paste it from a source you trust (the registry, log.pub)");
      const bundle = await getBundle();
      const r = await verifyBundle(bundle, keyText);
      localStorage.setItem("lodestone.logKey", keyText.trim());
      show(true, "verified in this browser: " + r.entries + " entries, checkpoint " + r.size + " signed by " + r.key);
    } catch (e) {
      show(false, "verification failed: " + (e instanceof Failure ? e.message : String(e && e.message || e)));
    }
  }

  window.lodestoneVerify = verifyBundle;
  const box = $("verify");
  if (!box) return;
  box.hidden = false;
  const remembered = localStorage.getItem("lodestone.logKey");
  if (remembered) $("log-key").value = remembered;
  $("verify-run").addEventListener("click", () => run(async () => {
    const response = await fetch(box.dataset.bundle, { cache: "no-store" });
    if (!response.ok) throw new Failure("the server answered " + response.status + " for the bundle");
    return response.json();
  }));
  $("verify-paste").addEventListener("click", () => run(async () => {
    try { return JSON.parse($("bundle-text").value); }
    catch (e) { throw new Failure("the pasted text is not JSON"); }
  }));
  $("forget-key").addEventListener("click", () => {
    localStorage.removeItem("lodestone.logKey");
    $("log-key").value = "";
    show(false, "the pinned key is forgotten in this browser");
  });
})();
