// stacklens web viewer. Every value from an event is untrusted: the page only
// ever sets textContent, never innerHTML.
(() => {
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = String(v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const EXPLAIN = {
  symbolicated: "resolved",
  missing_symbol: "the debug file has no symbol at this address",
  unknown_image: "the address is in no image listed in debug_meta.images",
  missing: "no debug file was uploaded for this image",
  malformed: "the uploaded debug file or source map cannot be parsed",
  missing_sourcemap: "no source map was found for this file",
  missing_source: "nothing was uploaded for this file",
  no_mapping: "the source map has no mapping at this line and column",
  invalid_location: "the frame has no usable line or column",
  invalid_addr: "instruction_addr is not a valid address",
  skipped: "not a frame that can be mapped",
};

function headers() {
  const h = { "Content-Type": "application/json" };
  const t = $("token").value.trim();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

function project() {
  return encodeURIComponent($("project").value.trim());
}

async function api(method, path, body) {
  const resp = await fetch(path, { method, headers: headers(), body });
  const text = await resp.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    const msg = data && data.error ? data.error.message : text || resp.statusText;
    throw new Error(resp.status + ": " + msg);
  }
  return data;
}

function stacks(event) {
  const out = [];
  const vals = (v) => Array.isArray(v) ? v : (v && Array.isArray(v.values) ? v.values : (v && typeof v === "object" ? [v] : []));
  vals(event.exception).forEach((ex, i) => {
    if (ex && ex.stacktrace) out.push({ title: [ex.type, ex.value].filter(Boolean).join(": ") || "Exception", path: "exception", index: i, st: ex.stacktrace, raw: ex.raw_stacktrace });
  });
  const threads = event.threads && Array.isArray(event.threads.values) ? event.threads.values : (Array.isArray(event.threads) ? event.threads : []);
  threads.forEach((th, i) => {
    if (th && th.stacktrace) out.push({ title: "Thread " + (th.id ?? i) + (th.name ? " (" + th.name + ")" : "") + (th.crashed ? " — crashed" : ""), st: th.stacktrace, raw: th.raw_stacktrace });
  });
  if (event.stacktrace) out.push({ title: "Stack trace", st: event.stacktrace });
  return out;
}

function frameLocation(f) {
  let loc = f.abs_path || f.filename || "";
  if (f.lineno) {
    loc += ":" + f.lineno;
    if (f.colno) loc += ":" + f.colno;
  }
  return loc || f.package || "";
}

function renderContext(f) {
  if (typeof f.context_line !== "string") return null;
  const pre = Array.isArray(f.pre_context) ? f.pre_context : [];
  const post = Array.isArray(f.post_context) ? f.post_context : [];
  const line = Number(f.lineno) || 0;
  const box = el("ol", { class: "context", start: Math.max(1, line - pre.length) });
  pre.forEach((l) => box.append(el("li", { text: l })));
  box.append(el("li", { class: "current", text: f.context_line }));
  post.forEach((l) => box.append(el("li", { text: l })));
  return box;
}

function renderFrame(f, raw) {
  const data = f.data || {};
  const status = data.symbolicator_status || "";
  // "skipped" frames (runtime internals, [native code]) have nothing to map:
  // they are neither resolved nor a problem.
  const ok = status === "" || status === "symbolicated" || status === "skipped";
  const li = el("li", { class: "frame" + (ok ? "" : " unresolved") + (f.in_app === false ? " system" : "") + (data.inlined ? " inlined" : "") });
  const head = el("div", { class: "frame-head" },
    el("span", { class: "fn", text: f.function || "<unknown>" }),
    el("span", { class: "loc", text: frameLocation(f) }));
  if (f.instruction_addr) head.append(el("span", { class: "addr", text: f.instruction_addr }));
  if (data.inlined) head.append(el("span", { class: "badge inl", text: "inlined" }));
  if (f.in_app === false) head.append(el("span", { class: "badge sys", text: "not in app" }));
  if (status && status !== "skipped") head.append(el("span", { class: "badge " + (ok ? "ok" : "bad"), title: EXPLAIN[status] || status, text: status }));
  li.append(head);
  if (!ok) {
    li.append(el("div", { class: "why", text: "Why: " + (EXPLAIN[status] || status) }));
  }
  const ctx = renderContext(f);
  if (ctx) li.append(ctx);
  if (raw && $("showraw").checked) {
    li.append(el("div", { class: "raw", text: "minified: " + (raw.function || "?") + " (" + frameLocation(raw) + ")" }));
  }
  return li;
}

function render(event) {
  const traces = $("traces");
  traces.replaceChildren();
  const all = stacks(event);
  let total = 0, resolved = 0, skipped = 0;
  for (const s of all) {
    const frames = Array.isArray(s.st.frames) ? s.st.frames : [];
    const raws = s.raw && Array.isArray(s.raw.frames) ? s.raw.frames : [];
    const list = el("ol", { class: "frames" });
    // Sentry stores the oldest call first; show the newest first.
    for (let i = frames.length - 1; i >= 0; i--) {
      const f = frames[i] || {};
      if ($("onlyapp").checked && f.in_app === false) continue;
      const st = (f.data || {}).symbolicator_status;
      if (st === "skipped") skipped++;
      else {
        total++;
        if (!st || st === "symbolicated") resolved++;
      }
      const raw = raws.length === frames.length ? raws[i] : undefined;
      list.append(renderFrame(f, raw));
    }
    traces.append(el("section", { class: "trace" }, el("h3", { text: s.title }), list));
  }
  $("summary").textContent = all.length === 0 ? "The event has no stack trace." :
    resolved + " of " + total + " frames resolved." + (skipped ? " " + skipped + (skipped === 1 ? " runtime frame has" : " runtime frames have") + " nothing to map." : "");
  const probs = $("problems");
  probs.replaceChildren();
  const errs = Array.isArray(event.errors) ? event.errors : [];
  if (errs.length) {
    const ul = el("ul", { class: "problems" });
    for (const e of errs) {
      const detail = [e.url, e.image_path, e.image_uuid, e.message].filter(Boolean).join(" — ");
      ul.append(el("li", {}, el("strong", { text: e.type || "error" }), detail ? ": " + detail : ""));
    }
    probs.append(el("h3", { text: "What to upload / fix" }), ul);
  }
  $("json").textContent = JSON.stringify(event, null, 2);
  $("result").hidden = false;
}

let last = null;

async function submit(ev) {
  ev.preventDefault();
  const status = $("status");
  let body;
  try {
    body = JSON.stringify(JSON.parse($("event").value));
  } catch (e) {
    status.textContent = "The event is not valid JSON: " + e.message;
    status.className = "error";
    return;
  }
  status.textContent = "Symbolicating…";
  status.className = "";
  try {
    last = await api("POST", "/api/v1/projects/" + project() + "/symbolicate", body);
    render(last);
    status.textContent = "Done.";
  } catch (e) {
    status.textContent = e.message;
    status.className = "error";
  }
}

async function listDebugFiles() {
  const out = $("uploads-out");
  try {
    const data = await api("GET", "/api/v1/projects/" + project() + "/debug-files");
    const files = Array.isArray(data) ? data : (data && (data.files || data.debug_files)) || [];
    const table = el("table", {}, el("tr", {}, ...["debug_id", "code_id", "kind", "arch", "features", "name"].map((h) => el("th", { text: h }))));
    for (const f of files) {
      table.append(el("tr", {}, ...[f.debug_id, f.code_id, f.kind, f.arch, (f.features || []).join(", "), f.object_name].map((v) => el("td", { text: v || "" }))));
    }
    out.replaceChildren(files.length ? table : el("p", { text: "No debug files uploaded for this project." }));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

async function listReleaseFiles() {
  const out = $("uploads-out");
  const rel = $("release").value.trim();
  if (!rel) {
    out.replaceChildren(el("p", { class: "error", text: "Enter a release." }));
    return;
  }
  try {
    const data = await api("GET", "/api/v1/projects/" + project() + "/releases/" + encodeURIComponent(rel) + "/files");
    const files = Array.isArray(data) ? data : (data && data.files) || [];
    const table = el("table", {}, el("tr", {}, ...["url", "type", "dist", "debug_id", "size"].map((h) => el("th", { text: h }))));
    for (const f of files) {
      table.append(el("tr", {}, ...[f.url, f.type, f.dist, f.debug_id, f.size].map((v) => el("td", { text: v ?? "" }))));
    }
    out.replaceChildren(files.length ? table : el("p", { text: "No files in this release." }));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", submit);
  $("showraw").addEventListener("change", () => last && render(last));
  $("onlyapp").addEventListener("change", () => last && render(last));
  $("list-debug").addEventListener("click", listDebugFiles);
  $("list-release").addEventListener("click", listReleaseFiles);
  $("file").addEventListener("change", async () => {
    const f = $("file").files[0];
    if (f) $("event").value = await f.text();
  });
  const saved = localStorage.getItem("stacklens.project");
  if (saved) $("project").value = saved;
  $("project").addEventListener("change", () => localStorage.setItem("stacklens.project", $("project").value));
});
})();
