// The explorer: pick series (keys or label filters), a range and an aggregation, and look.

import { get, post, seriesPath } from "./api.js";
import { TimePlot } from "./plot.js";
import { AGGREGATIONS } from "./series.js";
import { enc, h, parseDuration, parseTime, showError, toast } from "./util.js";

const PRESETS = [["15m", "15 min"], ["1h", "1 h"], ["6h", "6 h"], ["24h", "24 h"], ["7d", "7 d"], ["30d", "30 d"],
  ["all", "All"], ["custom", "Custom"]];
const MAX_SERIES = 20;

export function explore(root, { params }) {
  const state = {
    keys: (params.get("keys") || "").split(",").filter(Boolean),
    filters: params.getAll("filter"),
    range: params.get("range") || (params.get("from") ? "custom" : "all"),
    from: params.get("from") || "-1h",
    to: params.get("to") || "now",
    agg: params.get("agg") || "avg",
    style: params.get("style") || "line",
    refresh: Number(params.get("refresh") || 0),
  };
  let resolved = [];
  let timer = null;

  const status = h("div", { class: "plot-status", id: "plot-status" });
  const plot = new TimePlot({
    height: 460,
    onStatus: (parts) => status.replaceChildren(...parts.map((p) => h("span", {}, p))),
    onError: (err) => showError(err, "Cannot read points"),
  });
  plot.element.id = "explorer-plot";

  // Series picker: chips for keys and label filters, and a text box with key suggestions.
  const chips = h("div", { class: "chips" });
  const datalist = h("datalist", { id: "series-keys" });
  const input = h("input", { id: "picker-input", list: "series-keys", autocomplete: "off",
    placeholder: "Add a series key or a label filter (kind=temp), then Enter" });
  const picker = h("div", { class: "picker", onclick: () => input.focus() }, chips, input, datalist);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addItem(input.value);
    } else if (event.key === "Backspace" && !input.value) {
      if (state.filters.length) state.filters.pop(); else state.keys.pop();
      apply();
    }
  });
  input.addEventListener("change", () => {
    if ([...datalist.options].some((o) => o.value === input.value)) addItem(input.value);
  });

  function addItem(text) {
    const value = text.trim();
    input.value = "";
    if (!value) return;
    if (value.includes("=")) { if (!state.filters.includes(value)) state.filters.push(value); }
    else if (!state.keys.includes(value)) state.keys.push(value);
    apply();
  }

  const seg = h("div", { class: "seg", id: "range-presets" }, PRESETS.map(([id, label]) =>
    h("button", { type: "button", dataset: { range: id }, onclick: () => { state.range = id; apply(); } }, label)));
  const fromInput = h("input", { id: "range-from", value: state.from, size: 18, placeholder: "-2h or 2024-01-31T12:00Z" });
  const toInput = h("input", { id: "range-to", value: state.to, size: 18, placeholder: "now" });
  const custom = h("div", { class: "row" },
    h("label", { class: "field" }, h("span", {}, "From (UTC)"), fromInput),
    h("label", { class: "field" }, h("span", {}, "To (UTC)"), toInput),
    h("button", { type: "button", style: "align-self:flex-end", onclick: () => {
      state.from = fromInput.value.trim();
      state.to = toInput.value.trim();
      apply();
    } }, "Apply"));
  const aggSelect = h("select", { id: "agg", onchange: () => { state.agg = aggSelect.value; apply(); } },
    AGGREGATIONS.map((a) => h("option", { value: a }, a)));
  const styleSelect = h("select", { id: "style", onchange: () => { state.style = styleSelect.value; apply(); } },
    ["line", "step", "scatter"].map((s) => h("option", { value: s }, s)));
  const refreshSelect = h("select", { id: "refresh", onchange: () => { state.refresh = Number(refreshSelect.value); apply(); } },
    [[0, "off"], [5, "5 s"], [15, "15 s"], [60, "1 min"]].map(([v, l]) => h("option", { value: v }, l)));

  const empty = h("div", { class: "empty", hidden: true });
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Explore"), h("span", { class: "sub" }, "zoom in: finer buckets are fetched for what you see"),
      h("div", { class: "spacer" }),
      h("button", { id: "as-plot-job", onclick: () => submitJob("plot") }, "Plot job"),
      h("button", { id: "as-stats-job", onclick: () => submitJob("stats") }, "Stats job")),
    h("div", { class: "card" },
      h("div", { class: "controls" },
        h("label", { class: "field grow" }, h("span", {}, "Series"), picker),
        h("label", { class: "field" }, h("span", {}, "Aggregation"), aggSelect),
        h("label", { class: "field" }, h("span", {}, "Style"), styleSelect),
        h("label", { class: "field" }, h("span", {}, "Auto-refresh"), refreshSelect)),
      h("div", { class: "controls", style: "padding-top:0" },
        h("div", { class: "field" }, h("span", {}, "Range"), seg), custom),
      empty, plot.element, status),
  );

  get("/v1/series", { limit: 1000 }).then((list) => {
    datalist.replaceChildren(...list.series.map((s) => h("option", { value: s.key })));
    suggestions(list.series);
  }).catch((err) => showError(err, "Cannot list series"));

  function suggestions(list) {
    const labels = new Map();
    for (const s of list) for (const [k, v] of Object.entries(s.labels)) labels.set(`${k}=${v}`, (labels.get(`${k}=${v}`) || 0) + 1);
    const top = [...labels.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([f]) => f);
    empty.replaceChildren(h("strong", {}, "Pick series to plot"),
      h("div", {}, list.length ? "For example:" : "There are no series yet."),
      h("div", { class: "chips", style: "justify-content:center;margin-top:10px" },
        top.map((f) => h("button", { class: "chip filter", onclick: () => addItem(f) }, f)),
        list.slice(0, 6).map((s) => h("button", { class: "chip", onclick: () => addItem(s.key) }, s.key))));
  }

  function renderControls() {
    chips.replaceChildren(
      ...state.filters.map((f, i) => h("span", { class: "chip filter" }, f,
        h("span", { class: "x", title: "Remove", onclick: () => { state.filters.splice(i, 1); apply(); } }, "✕"))),
      ...state.keys.map((k, i) => h("span", { class: "chip" }, k,
        h("span", { class: "x", title: "Remove", onclick: () => { state.keys.splice(i, 1); apply(); } }, "✕"))));
    for (const b of seg.children) b.classList.toggle("on", b.dataset.range === state.range);
    custom.hidden = state.range !== "custom";
    aggSelect.value = state.agg;
    styleSelect.value = state.style;
    refreshSelect.value = String(state.refresh);
  }

  function writeUrl() {
    const q = new URLSearchParams();
    if (state.keys.length) q.set("keys", state.keys.join(","));
    for (const f of state.filters) q.append("filter", f);
    q.set("range", state.range);
    if (state.range === "custom") { q.set("from", state.from); q.set("to", state.to); }
    if (state.agg !== "avg") q.set("agg", state.agg);
    if (state.style !== "line") q.set("style", state.style);
    if (state.refresh) q.set("refresh", String(state.refresh));
    window.history.replaceState(null, "", `#/explore?${q}`);
  }

  /** The series to draw: the chosen keys plus every series the filters select. */
  async function resolveKeys() {
    const keys = [...state.keys];
    if (state.filters.length) {
      const { series } = await get("/v1/series", { filter: state.filters, limit: MAX_SERIES + 1 });
      for (const s of series) if (!keys.includes(s.key)) keys.push(s.key);
    }
    if (keys.length > MAX_SERIES) toast(`Showing the first ${MAX_SERIES} series`, { detail: "narrow the filter to see others" });
    return keys.slice(0, MAX_SERIES);
  }

  /** [from, to] in epoch ms for the chosen range. */
  async function resolveRange(keys) {
    const now = Date.now();
    if (state.range === "custom") return [parseTime(state.from, now), parseTime(state.to, now)];
    if (state.range !== "all") return [now - parseDuration(state.range), now];
    const infos = await Promise.all(keys.map((k) => get(seriesPath(k))));
    const firsts = infos.map((i) => i.first_timestamp).filter((t) => t !== null);
    const lasts = infos.map((i) => i.last_timestamp).filter((t) => t !== null);
    if (!firsts.length) return [now - 3_600_000, now];
    const [a, b] = [Math.min(...firsts), Math.max(...lasts)];
    const pad = Math.max(60_000, (b - a) * 0.02);
    return [a - pad, b + pad];
  }

  async function apply() {
    renderControls();
    writeUrl();
    clearInterval(timer);
    timer = null;
    empty.hidden = Boolean(state.keys.length || state.filters.length);
    plot.element.hidden = !empty.hidden;
    status.hidden = !empty.hidden;
    if (!empty.hidden) {
      plot.clear();
      return;
    }
    try {
      resolved = await resolveKeys();
      const [from, to] = await resolveRange(resolved);
      if (!(to > from)) {
        showError({ title: "Invalid range", detail: "give From before To, as -2h, now, epoch ms or 2024-01-31T12:00:00Z" });
        return;
      }
      await plot.show({ keys: resolved, from, to, agg: state.agg, style: state.style, filters: state.filters });
    } catch (err) {
      showError(err, "Cannot plot");
      return;
    }
    if (state.refresh) timer = setInterval(refresh, state.refresh * 1000);
  }

  function refresh() {
    if (document.hidden) return;
    if (!["all", "custom"].includes(state.range)) {
      const now = Date.now();
      plot.setRange(now - parseDuration(state.range), now);
    }
    plot.reload();
  }

  async function submitJob(type) {
    if (!resolved.length || !plot.fig) {
      toast("Pick series first", { error: true });
      return;
    }
    const { start, end } = plot.fig.x_range;
    const params = { keys: resolved, from: Math.floor(start), to: Math.ceil(end) };
    if (type === "plot") Object.assign(params, { agg: state.agg, kind: state.style, title: resolved.join(", ").slice(0, 300) });
    try {
      const job = await post("/v1/jobs", { type, params });
      toast(`Submitted a ${type} job`);
      window.location.hash = `#/jobs/${enc(job.id)}`;
    } catch (err) {
      showError(err, `Cannot submit the ${type} job`);
    }
  }

  apply();
  return () => {
    clearInterval(timer);
    plot.destroy();
  };
}
