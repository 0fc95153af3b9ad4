// Writ console: plain JS, no build step, nothing fetched but this server's own JSON API.
// Every value from the log is inserted as text (never as HTML): tool names, details and
// purposes are chosen by agents and must not run as markup in the operator's browser.
"use strict";

const POLL_MS = 1000;
const STATUS_MS = 2000;
const KEEP = 5000; // decisions kept in the page

const state = { last: -1, rows: [], chains: -1, selected: null, polling: false };

// ---------- small DOM helpers ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function short(uri) {
  if (!uri) return "—";
  const s = String(uri);
  const i = s.lastIndexOf(":");
  const tail = i >= 0 ? s.slice(i + 1) : s;
  return tail.length > 12 ? tail.slice(0, 10) + "…" : tail;
}

function when(ms) {
  const date = new Date(typeof ms === "number" ? ms : NaN);
  if (Number.isNaN(date.getTime())) return "—";  // a malformed record must not stop the page
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// ---------- bytes, base64, hashing (WebCrypto) ----------

function b64decode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
    throw new Error("not standard padded base64");
  }
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
  if (!a || !b || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// RFC 9162 §2.1.1: leaf and interior node hashes are domain-separated by 0x00 / 0x01.
const leafHash = (leaf) => sha256(concat(new Uint8Array([0]), leaf));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

// RFC 9162 §2.1.3.2: the root an audit path leads to, or null if the path has the wrong length.
async function rootFromInclusion(index, size, hash, path) {
  if (!(index >= 0 && index < size)) return null;
  let fn = index, sn = size - 1, r = hash;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// ---------- C2SP signed note and checkpoint ----------

// c2sp.org/signed-note: text, a blank line, then "— <name> base64(keyID || signature)" lines.
function parseNote(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
  const text = note.slice(0, split + 1);
  const sigs = note.slice(split + 2, -1).split("\n").map((line) => {
    if (!line.startsWith("\u2014 ")) throw new Error("a signature line starts with an em dash");
    const rest = line.slice(2);
    const sp = rest.indexOf(" ");
    if (sp <= 0) throw new Error("a signature line is '— <name> <signature>'");
    const raw = b64decode(rest.slice(sp + 1));
    if (raw.length < 5) throw new Error("a signature is a key ID and signature bytes");
    const keyId = ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0;
    return { name: rest.slice(0, sp), keyId, sig: raw.slice(4) };
  });
  return { text, sigs };
}

// c2sp.org/tlog-checkpoint: origin, decimal size, base64 root hash, extension lines.
function parseCheckpoint(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("not a checkpoint");
  return { origin: lines[0], size: Number(lines[1]), root: b64decode(lines[2]) };
}

// signed-note key ID: SHA-256(name || 0x0A || 0x01 || Ed25519 public key)[:4], big-endian.
async function keyId(name, pub) {
  const d = await sha256(concat(new TextEncoder().encode(name + "\n"), new Uint8Array([1]), pub));
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

async function ed25519Verify(pub, sig, message) {
  const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, sig, message);
}

// ---------- the in-page proof check ----------

// A log key pinned in the URL fragment (#vkey=<name>+<keyid>+<base64(0x01 || key)>, the
// signed-note verifier key form) replaces the key the console serves. The fragment never
// reaches the server, so a console that lies about the key cannot see or change it.
async function pinnedKey(hash) {
  const m = /(?:^#|&)vkey=([^&]+)/.exec(hash || "");
  if (!m) return null;
  const vkey = decodeURIComponent(m[1]);
  const parts = vkey.split("+");
  if (parts.length < 3) throw new Error("the pinned vkey is not <name>+<keyid>+<key>");
  const [name, idHex] = parts;
  const blob = b64decode(parts.slice(2).join("+"));
  if (blob.length !== 33 || blob[0] !== 1) throw new Error("the pinned vkey is not an Ed25519 key");
  const pub = blob.slice(1);
  if ((await keyId(name, pub)).toString(16).padStart(8, "0") !== idHex) {
    throw new Error("the pinned vkey's key ID does not match its name and key");
  }
  return { name, public_key_b64: btoa(String.fromCharCode(...pub)), pinned: true };
}

async function checkSignature(note, cp, logKey) {
  if (!logKey) {
    return { name: "checkpoint signature", ok: null,
             detail: "not checked: the console was started without --log-key" };
  }
  const pub = b64decode(logKey.public_key_b64);
  const name = logKey.name || cp.origin;
  const id = await keyId(name, pub);
  const sig = note.sigs.find((s) => s.name === name && s.keyId === id);
  const idHex = id.toString(16).padStart(8, "0");
  const source = logKey.pinned ? "key pinned in the URL" : "key served by the console";
  if (!sig) {
    return { name: "checkpoint signature", ok: false,
             detail: `no signature by ${name} with key ID ${idHex} (${source})` };
  }
  let ok = false;
  try {
    ok = await ed25519Verify(pub, sig.sig, new TextEncoder().encode(note.text));
  } catch (e) {
    return { name: "checkpoint signature", ok: false, detail: `WebCrypto Ed25519: ${e}` };
  }
  return { name: "checkpoint signature", ok,
           detail: `Ed25519 by ${name}, key ID ${idHex} (${source}): ${ok ? "valid" : "INVALID"}` };
}

async function verifyProof(p) {
  const checks = [];
  const add = (name, ok, detail) => checks.push({ name, ok, detail });
  let record = null;
  try {
    const leaf = b64decode(p.leaf_b64);
    try { record = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf)); }
    catch (e) { record = null; }
    const lh = await leafHash(leaf);
    add("leaf hash", equal(lh, b64decode(p.leaf_hash_b64)),
        `SHA-256(0x00 || leaf) = ${hex(lh).slice(0, 16)}…`);
    const path = p.audit_path.map(b64decode);
    const note = parseNote(p.checkpoint);
    const cp = parseCheckpoint(note.text);
    add("tree size", cp.size === p.tree_size && p.index < cp.size,
        `entry ${p.index} of ${cp.size} (checkpoint says ${cp.size})`);
    const root = await rootFromInclusion(p.index, cp.size, lh, path);
    add("inclusion", root !== null && equal(root, cp.root),
        root === null ? `audit path of ${path.length} hashes has the wrong length`
          : `${path.length} hashes lead to ${hex(root).slice(0, 16)}…, checkpoint root ` +
            `${hex(cp.root).slice(0, 16)}…`);
    checks.push(await checkSignature(note, cp, p.log_key));
  } catch (e) {
    add("proof format", false, String(e.message || e));
  }
  const failed = checks.some((c) => c.ok === false);
  const unchecked = checks.some((c) => c.ok === null);
  return { ok: failed ? false : unchecked ? null : true, checks, record };
}

// ---------- the chain shown next to a proved record ----------

function b64urlDecode(text) {
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  return b64decode(std + "=".repeat((4 - (std.length % 4)) % 4));
}

function b64urlEncode(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// RFC 7638 thumbprint of an Ed25519 JWK, as the thumbprint URI of RFC 9278.
async function thumbprintUri(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  const tp = b64urlEncode(await sha256(new TextEncoder().encode(canonical)));
  return "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + tp;
}

// A display form of one compact token, read in this page from its own payload.
async function decodeToken(compact) {
  const [h, p] = compact.split(".");
  const c = JSON.parse(new TextDecoder().decode(b64urlDecode(p)));
  const entry = (c.authorization_details || []).find((d) => d && d.type === "attenuating_agent_token");
  return { jti: c.jti, iss: c.iss, holder: c.cnf && c.cnf.jwk ? await thumbprintUri(c.cnf.jwk) : null,
           depth: c.del_depth, max_depth: c.del_max_depth, iat: c.iat, exp: c.exp,
           aud: c.aud === undefined ? null : [].concat(c.aud), purpose: c.writ_purpose ?? null,
           tools: entry ? entry.tools : null, budget: c.writ_budget ?? null,
           approval: c.writ_approval ?? null,
           hash: b64urlEncode(await sha256(new TextEncoder().encode(h + "." + p))) };
}

// Bind the archived tokens to the proved record: token i's hash (base64url SHA-256 of its
// JWS signing input, the AAT par_hash form) must be the record's chain.token_hashes[i].
async function verifyChain(record, compacts) {
  const expected = record && record.chain ? record.chain.token_hashes || [] : [];
  if (!expected.length) return { check: null, tokens: [] };
  const tokens = [];
  let bad = 0, missing = 0;
  for (let i = 0; i < expected.length; i++) {
    const compact = compacts[i];
    if (!compact) { missing++; tokens.push({ hash: expected[i], error: "not in the chain archive" }); continue; }
    let t;
    try { t = await decodeToken(compact); } catch (e) { t = { hash: "", error: "unreadable token" }; }
    if (t.hash !== expected[i]) { bad++; t = { ...t, error: "does not match the record's token hash" }; }
    tokens.push(t);
  }
  const ok = bad ? false : missing ? null : true;
  const detail = bad ? `${bad} of ${expected.length} archived tokens do not hash to the record's token_hashes`
    : missing ? `${missing} of ${expected.length} tokens are not in the chain archive`
      : `${expected.length} archived token(s) hash to the record's token_hashes`;
  return { check: { name: "chain tokens", ok, detail }, tokens };
}

// ---------- decision stream ----------

const FILTERS = ["decision", "agent", "tool", "code"];

function filterValue(name) { return $("f-" + name).value; }

function matches(row) {
  const f = Object.fromEntries(FILTERS.map((n) => [n, filterValue(n)]));
  if (f.decision && row.decision !== f.decision) return false;
  if (f.agent && row.agent !== f.agent) return false;
  if (f.tool && row.tool !== f.tool) return false;
  if (f.code && (row.code || "(none)") !== f.code) return false;
  return true;
}

function addOption(select, value, label) {
  if (value === null || value === undefined) return;
  if (Array.from(select.options).some((o) => o.value === value)) return;
  select.append(el("option", { value, text: label || value }));
}

function rowFor(d) {
  const kind = d.decision === "allow" ? "allow" : d.decision === "deny" ? "deny" : "unknown";
  const badge = { allow: ["ok", "✓ allow"], deny: ["bad", "✗ deny"],
                  unknown: ["warn", "? unreadable"] }[kind];
  const tr = el("tr", { class: "decision " + kind, "data-index": d.index,
                        onclick: () => openDetail(d.index) },
    el("td", { text: d.index }),
    el("td", { text: when(d.time_ms) }),
    el("td", {}, el("span", { class: "badge " + badge[0], text: badge[1] })),
    el("td", { class: "mono", text: d.tool ?? "—" }),
    el("td", { class: "mono", text: d.code ?? "" }),
    el("td", { class: "mono", title: d.agent || "", text: short(d.agent) }),
    el("td", { class: "mono", title: d.principal || "", text: d.principal ?? "—" }));
  return tr;
}

function gapRow(g) {
  return el("tr", { class: "gap" }, el("td", { colspan: 7,
    text: `… ${g.gap} more decisions arrived between two polls and are not shown here ` +
          "(writ log tail lists them)" }));
}

function render() {
  const body = document.querySelector("#decisions tbody");
  const shown = state.rows.filter((r) => r.gap || matches(r));
  body.replaceChildren(...shown.map((r) => (r.gap ? gapRow(r) : rowFor(r))));
  const count = shown.filter((r) => !r.gap).length;
  $("empty").hidden = count > 0;
  $("f-count").textContent = `${count} of ${state.rows.filter((r) => !r.gap).length}`;
  if (state.selected !== null) {
    const tr = body.querySelector(`tr[data-index="${state.selected}"]`);
    if (tr) tr.classList.add("selected");
  }
}

function addRows(rows, older) {
  for (const d of rows.filter((r) => !r.gap)) {
    addOption($("f-agent"), d.agent, short(d.agent));
    addOption($("f-tool"), d.tool);
    addOption($("f-code"), d.code || "(none)");
  }
  state.rows = older ? state.rows.concat(rows) : rows.concat(state.rows).slice(0, KEEP);
  const oldest = state.rows.length ? state.rows[state.rows.length - 1].index : 0;
  $("older").hidden = oldest === 0 || state.rows.length >= KEEP;
  render();
}

async function loadOlder() {
  if (!state.rows.length) return;
  const oldest = state.rows[state.rows.length - 1].index;
  const page = await getJSON(`/api/decisions?before=${oldest}`);
  addRows(page.decisions, true);
}

async function poll() {
  if (state.polling) return;
  state.polling = true;
  try {
    const page = await getJSON(`/api/decisions?after=${state.last}`);
    if (page.decisions.length) {
      const oldest = page.decisions[page.decisions.length - 1].index;
      // More decisions arrived than one answer holds: say so rather than hide the gap.
      const gap = state.last >= 0 && oldest > state.last + 1
        ? [{ gap: oldest - state.last - 1, index: oldest - 1 }] : [];
      state.last = Math.max(state.last, page.decisions[0].index);
      addRows(page.decisions.concat(gap), false);
    }
    $("st-live").className = "live on";
    $("st-live-text").textContent = "live";
  } catch (e) {
    $("st-live").className = "live off";
    $("st-live-text").textContent = "disconnected";
  } finally {
    state.polling = false;
  }
}

// ---------- detail view ----------

function fields(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) {
    dl.append(el("dt", { text: k }), el("dd", { class: "mono", text: v ?? "—" }));
  }
}

function showProofResult(result) {
  const box = $("proof");
  box.className = "proof " + (result.ok === true ? "good" : result.ok === false ? "bad" : "warn");
  $("proof-mark").textContent = result.ok === true ? "✓" : result.ok === false ? "✗" : "⚠";
  $("proof-headline").textContent = result.ok === true
    ? "Included in the signed log: verified in this page"
    : result.ok === false ? "Proof FAILED: this record is not proven to be in the log"
      : "Not fully checked: see the items marked –";
  $("proof-checks").replaceChildren(...result.checks.map((c) => el("li",
    { class: c.ok === true ? "ok" : c.ok === false ? "bad" : "warn" },
    el("span", { class: "mark", text: c.ok === true ? "✓" : c.ok === false ? "✗" : "–" }),
    el("b", { text: c.name + ": " }), c.detail)));
  $("d-record").textContent = result.record ? JSON.stringify(result.record, null, 2)
    : "(the leaf bytes are not a JSON record)";
}

function showFields(r) {
  const chain = (r && r.chain) || {};
  r = r || {};
  fields($("d-fields"), [["id", r.id], ["time", when(r.time_ms)], ["receiver", r.receiver],
    ["tool", r.tool], ["decision", r.decision], ["code", r.code], ["step", r.step],
    ["detail", r.detail], ["principal", chain.principal], ["purpose", chain.purpose],
    ["agent", chain.agent], ["args hash", r.args_hash],
    ["proof", r.proof ? r.proof.type || "kept" : null]]);
}

function resetDetail(index) {
  $("detail").hidden = false;
  $("d-title").textContent = `Decision #${index}`;
  $("proof").className = "proof pending";
  $("proof-mark").textContent = "…";
  $("proof-headline").textContent = "Checking the inclusion proof in this page";
  $("proof-checks").replaceChildren();
  $("d-fields").replaceChildren();
  $("d-record").textContent = "";
  $("d-chain").replaceChildren();
}

// Everything shown comes from the proved leaf bytes; the archive only adds the tokens,
// and those are bound to the record by their hashes.
async function openDetail(index) {
  state.selected = index;
  render();
  resetDetail(index);
  let result;
  try {
    const p = await getJSON(`/api/proof/${index}`);
    const pinned = await pinnedKey(location.hash);
    result = await verifyProof(pinned ? { ...p, log_key: pinned } : p);
  } catch (e) {
    result = { ok: false, checks: [{ name: "proof", ok: false, detail: String(e.message || e) }],
               record: null };
  }
  let tokens = [];
  try {
    const d = await getJSON(`/api/decision/${index}`);
    const bound = await verifyChain(result.record, d.tokens.map((t) => t.compact || null));
    tokens = bound.tokens;
    if (bound.check) {
      result.checks.push(bound.check);
      if (bound.check.ok === false) result.ok = false;
      else if (bound.check.ok === null && result.ok === true) result.ok = null;
    }
  } catch (e) {
    result.checks.push({ name: "chain tokens", ok: null, detail: String(e.message || e) });
  }
  if (state.selected !== index) return;
  showProofResult(result);
  showFields(result.record);
  $("d-chain").replaceChildren(...tokens.map((t, i) => tokenCard(t, i)));
}

// ---------- tokens and the delegation graph ----------

function constraintText(c) {
  if (!c || typeof c !== "object") return JSON.stringify(c);
  const { constraint_type: type, ...rest } = c;
  return (type || "?") + (Object.keys(rest).length ? " " + JSON.stringify(rest) : "");
}

function toolList(tools) {
  if (!tools) return el("p", { class: "muted", text: "no capability entry (grants nothing)" });
  const ul = el("ul", { class: "tools" });
  for (const [tool, args] of Object.entries(tools)) {
    const names = Object.keys(args || {});
    const li = el("li", {}, el("span", { class: "tool", text: tool }));
    if (!names.length) li.append(el("span", { class: "muted", text: " any arguments" }));
    else {
      const inner = el("ul", { class: "args" });
      for (const n of names) inner.append(el("li", {}, el("span", { class: "arg", text: n }),
                                                ": " + constraintText(args[n])));
      li.append(inner);
    }
    ul.append(li);
  }
  return ul;
}

function gateText(gate) {
  const parts = [`tools ${(gate.tools || []).join(", ")}`,
    `${gate.threshold} of ${(gate.approvers || []).length} approvers`, `max age ${gate.max_age}s`];
  if (gate.unless) parts.push("unless " + Object.entries(gate.unless)
    .map(([a, c]) => `${a} ${constraintText(c)}`).join(", "));
  return parts.join("; ");
}

function tokenCard(t, index) {
  if (t.error) {
    return el("div", { class: "token missing" }, el("b", { text: `token ${index}: ` }), t.error,
              el("div", { class: "mono muted", text: t.hash || "" }));
  }
  const expired = t.exp * 1000 < Date.now();
  const meta = el("dl", { class: "meta" });
  const put = (k, v) => { if (v !== null && v !== undefined) meta.append(el("dt", { text: k }), el("dd", { text: v })); };
  put("jti", t.jti);
  put("issuer", t.iss);
  put("depth", `${t.depth} of max ${t.max_depth}`);
  put("expires", when(t.exp * 1000) + (expired ? " (expired)" : ""));
  put("audience", t.aud ? t.aud.join(", ") : null);
  put("purpose", t.purpose);
  put("budget", t.budget ? JSON.stringify(t.budget) : null);
  if (t.approval && t.approval.gates) {
    put("approval", t.approval.gates.map(gateText).join(" | "));
  }
  return el("div", { class: "token" + (expired ? " expired" : ""), "data-hash": t.hash },
    el("div", { class: "token-head" }, el("span", { class: "who", text: t.depth === 0 ? "agent" : "sub-agent" }),
      " ", el("span", { class: "mono", title: t.holder, text: short(t.holder) }),
      el("button", { type: "button", class: "link", onclick: (ev) => { ev.stopPropagation(); showAgent(t.holder); },
                     text: "decisions →" })),
    toolList(t.tools), meta);
}

function graphNode(node) {
  const box = tokenCard(node, node.depth);
  if (node.children && node.children.length) {
    box.append(el("div", { class: "children" }, ...node.children.map(graphNode)));
  }
  return box;
}

function renderGraph(g) {
  const root = $("graph");
  if (!g.principals.length) {
    root.replaceChildren(el("p", { class: "muted", text: "The chain archive is empty: no chain verified yet." }));
    return;
  }
  root.replaceChildren(...g.principals.map((p) => el("div", { class: "principal" },
    el("div", { class: "principal-head" }, el("span", { class: "who", text: "principal" }), " ",
       el("span", { class: "mono", text: p.iss })),
    el("div", { class: "children" }, ...p.tokens.map(graphNode)))));
}

async function refreshGraph() {
  try { renderGraph(await getJSON("/api/graph")); }
  catch (e) { $("graph").replaceChildren(el("p", { class: "bad", text: String(e.message || e) })); }
}

function showAgent(holder) {
  addOption($("f-agent"), holder, short(holder));
  $("f-agent").value = holder;
  switchTab("decisions");
  render();
}

// ---------- status ----------

async function refreshStatus() {
  try {
    const s = await getJSON("/api/status");
    $("st-size").textContent = s.log.size;
    const cp = s.log.checkpoint;
    $("st-checkpoint").textContent = cp
      ? `size ${cp.size}, root ${hex(b64decode(cp.root_b64)).slice(0, 12)}…, ${when(cp.created * 1000)}`
      : "none signed yet";
    const w = s.witness;
    $("st-witness").textContent = !w ? "not configured"
      : `cosigned size ${w.latest_size ?? "none"}, ${w.evidence_count} refused-fork evidence`;
    $("st-witness").className = w && w.evidence_count ? "bad" : "";
    $("st-archive").textContent = `${s.archive.chains} chains, ${s.archive.tokens} tokens`;
    if (s.archive.chains !== state.chains) {
      state.chains = s.archive.chains;
      if (!$("panel-graph").hidden) refreshGraph();
    }
  } catch (e) {
    $("st-size").textContent = "?";
  }
}

// ---------- wiring ----------

function switchTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.panel === name);
  $("panel-decisions").hidden = name !== "decisions";
  $("panel-graph").hidden = name !== "graph";
  if (name === "graph") refreshGraph();
}

function start() {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => switchTab(b.dataset.panel));
  for (const n of FILTERS) $("f-" + n).addEventListener("change", render);
  $("f-clear").addEventListener("click", () => { for (const n of FILTERS) $("f-" + n).value = ""; render(); });
  $("older").addEventListener("click", loadOlder);
  $("d-close").addEventListener("click", () => { $("detail").hidden = true; state.selected = null; render(); });
  poll();
  refreshStatus();
  setInterval(poll, POLL_MS);
  setInterval(refreshStatus, STATUS_MS);
}

// Exposed for tests and for the curious: the same functions the detail view uses.
window.writConsole = { verifyProof, pinnedKey, verifyChain, decodeToken, rootFromInclusion, leafHash, keyId, parseNote, parseCheckpoint };

document.addEventListener("DOMContentLoaded", start);
