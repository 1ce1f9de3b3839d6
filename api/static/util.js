// DOM building, toasts, dialogs, and the formatting and time parsing the views share.

/** Build an element: h("div", {class: "x", onclick: fn}, "text", child, [more]). Text is never HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") el.style.cssText = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An SVG icon from the sprite in index.html. */
export function icon(name, cls = "inline") {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", cls);
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Run async tasks with at most `limit` in flight. */
export async function pool(items, limit, task) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await task(queue.shift());
  });
  await Promise.all(workers);
}

// -- toasts and dialogs ---------------------------------------------------------------------

export function toast(title, { error = false, detail = "", items = [] } = {}) {
  const box = h("div", { class: `toast${error ? " error" : ""}`, role: error ? "alert" : "status" },
    h("strong", {}, title), detail ? h("div", { class: "muted small" }, detail) : null,
    items.length ? h("ul", {}, items.map((i) => h("li", {}, i))) : null);
  document.getElementById("toasts").append(box);
  setTimeout(() => box.remove(), error ? 8000 : 3500);
}

/** Show an error from the API (a problem document) or from the browser. */
export function showError(err, context = "") {
  const title = context ? `${context}: ${err.title || "failed"}` : err.title || "Something failed";
  const items = (err.errors || []).map((e) => (e.field ? `${e.field}: ${e.message}` : e.message || JSON.stringify(e)));
  for (const r of (err.rejected || []).slice(0, 5)) items.push(`#${r.index}: ${r.reason}`);
  toast(title, { error: true, detail: err.detail || err.message || "", items });
}

/** A modal dialog; resolves with what `onSubmit` returns, or null if dismissed. */
export function openDialog({ title, body, submit = "Save", danger = false, onSubmit }) {
  const dialog = document.getElementById("dialog");
  return new Promise((resolve) => {
    const ok = h("button", { class: danger ? "danger solid" : "primary", type: "submit" }, submit);
    const form = h("form", { method: "dialog" },
      h("div", { class: "card-head" }, h("h2", {}, title)),
      h("div", { class: "card-body form" }, body),
      h("div", { class: "dialog-foot" },
        h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), ok));
    let result = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      ok.disabled = true;
      try {
        result = onSubmit ? await onSubmit() : true;
        if (result !== undefined && result !== false) dialog.close();
      } finally {
        ok.disabled = false;
      }
    });
    dialog.replaceChildren(form);
    dialog.addEventListener("close", () => resolve(result), { once: true });
    dialog.showModal();
    const first = form.querySelector("input, select, textarea");
    (first || ok).focus();
  });
}

export function confirmDialog(title, message, action = "Delete") {
  return openDialog({ title, body: h("p", { style: "margin:0" }, message), submit: action, danger: true });
}

// -- formatting (all times in UTC, like the API) -------------------------------------------

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
const countFormat = new Intl.NumberFormat("en-US");

export function fmtTime(ms, withMs = false) {
  if (ms === null || ms === undefined) return "—";
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) + " " + iso.slice(11, withMs ? 23 : 19);
}

export function fmtNum(v) {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-3)) return v.toExponential(3);
  return numberFormat.format(v);
}

export const fmtCount = (n) => (n === null || n === undefined ? "—" : countFormat.format(n));

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

const UNITS = [["w", 604_800_000], ["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]];

/** 2592000000 → "30d", 5400000 → "1h30m", 0 → "0ms". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms === 0) return "0ms";
  let rest = Math.round(ms);
  const parts = [];
  for (const [unit, size] of UNITS.slice(1)) {
    if (rest >= size && (parts.length < 2 || rest % size === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (!rest || parts.length === 2) break;
  }
  return parts.join("");
}

export function fmtAgo(ms, now = Date.now()) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// -- parsing --------------------------------------------------------------------------------

/** "1h30m" / "500" / "250ms" → milliseconds, or NaN. */
export function parseDuration(text) {
  const s = String(text).trim();
  if (/^\d+$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let used = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * UNITS.find(([u]) => u === m[2])[1];
    used += m[0].length;
  }
  return used === s.length && used > 0 ? Math.round(total) : NaN;
}

/** The API's time formats (epoch ms, ISO-8601 in UTC, now, -15m, now-1h) → epoch ms, or NaN. */
export function parseTime(text, now = Date.now()) {
  const s = String(text).trim();
  if (s === "" ) return NaN;
  if (s === "now") return now;
  if (/^\d{9,}$/.test(s)) return Number(s);
  const rel = /^(?:now)?\s*([+-])\s*(.+)$/.exec(s);
  if (rel) {
    const d = parseDuration(rel[2]);
    return Number.isNaN(d) ? NaN : now + (rel[1] === "-" ? -d : d);
  }
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(s) || !s.includes("T") && !s.includes(" ") ? s : `${s}Z`;
  const iso = zoned.replace(" ", "T");
  return Date.parse(/^\d{4}-\d\d-\d\d$/.test(iso) ? `${iso}T00:00:00Z` : iso);
}

/** Split "city=austin kind=(a,b) temp" into label filters and plain words. */
export function splitQuery(text) {
  const tokens = String(text).match(/[^\s,()]+(?:\([^)]*\))?[^\s,]*/g) || [];
  return {
    filters: tokens.filter((t) => t.includes("=")),
    words: tokens.filter((t) => !t.includes("=")).map((t) => t.toLowerCase()),
  };
}

/** Parse "a=b" pairs (one per line, or separated by commas/spaces) into an object. */
export function parseLabels(text) {
  const labels = {};
  for (const part of String(text).split(/[\n,]+|\s+(?=[^=\s]+=)/)) {
    const s = part.trim();
    if (!s) continue;
    const i = s.indexOf("=");
    if (i <= 0) throw new Error(`"${s}" is not name=value`);
    labels[s.slice(0, i).trim()] = s.slice(i + 1).trim();
  }
  return labels;
}

const NICE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5,
  9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

/** The "round" bucket width (1s, 5m, 1h, 1d...) nearest to `ms` (about one bucket per pixel). */
export function niceBucket(ms) {
  const i = NICE.findIndex((n) => n >= ms);
  if (i < 0) return Math.round(ms / 864e5) * 864e5;
  return i > 0 && ms / NICE[i - 1] < NICE[i] / ms ? NICE[i - 1] : NICE[i];
}

export const enc = encodeURIComponent;
