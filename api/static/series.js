// Series: a searchable list with labels and stats, one series' page, and the small CRUD forms.

import { del, get, patch, post, put, seriesPath } from "./api.js";
import { TimePlot } from "./plot.js";
import {
  confirmDialog, debounce, enc, fmtBytes, fmtCount, fmtDuration, fmtNum, fmtTime, h, icon,
  openDialog, parseDuration, parseLabels, pool, showError, splitQuery, toast,
} from "./util.js";

export const AGGREGATIONS = ["avg", "sum", "min", "max", "range", "count", "first", "last",
  "std.p", "std.s", "var.p", "var.s", "twa"];
const POLICIES = ["block", "first", "last", "min", "max", "sum"];
const SHOWN = 200;

const go = (hash) => { window.location.hash = hash; };
const exploreHash = (keys) => `#/explore?keys=${keys.map(enc).join(",")}`;

/** The newest sample of a series, from its info (one point read at last_timestamp). */
async function latestPoint(info) {
  if (info.last_timestamp === null) return null;
  const t = info.last_timestamp;
  const { points } = await get(`${seriesPath(info.key)}/points`, { from: t, to: t });
  return points.at(-1) || null;
}

function labelChips(labels, onPick) {
  return Object.entries(labels).map(([k, v]) => h(onPick ? "button" : "span", {
    class: "chip", type: "button", title: onPick ? `Filter by ${k}=${v}` : null,
    onclick: onPick ? (e) => { e.stopPropagation(); onPick(`${k}=${v}`); } : null,
  }, h("span", { class: "k" }, `${k}=`), v));
}

// -- the list --------------------------------------------------------------------------------

export function seriesList(root, { params }) {
  let generation = 0;
  const selected = new Set();
  const search = h("input", {
    id: "series-search", type: "search", value: params.get("q") || "", autocomplete: "off",
    placeholder: "Search keys, or filter by label: city=austin kind!=test",
  });
  const count = h("span", { class: "pill", id: "series-count" }, "…");
  const plotSelected = h("button", { id: "plot-selected", disabled: true,
    onclick: () => go(exploreHash([...selected])) }, icon("explore"), "Plot selected");
  const plotMatching = h("button", { class: "ghost", id: "plot-matching", hidden: true,
    onclick: () => go(`#/explore?${splitQuery(search.value).filters.map((f) => `filter=${enc(f)}`).join("&")}`),
  }, "Plot all matching");
  const hint = h("div", { class: "muted small", style: "padding: 0 16px 10px" });
  const labelBar = h("div", { class: "chips", style: "padding: 0 16px 12px" });
  const tbody = h("tbody", { id: "series-rows" });
  const table = h("table", {},
    h("thead", {}, h("tr", {},
      h("th", { style: "width:28px" }), h("th", {}, "Key"), h("th", {}, "Labels"),
      h("th", { class: "num" }, "Points"), h("th", {}, "First (UTC)"), h("th", {}, "Last (UTC)"),
      h("th", { class: "num" }, "Latest"), h("th", {}, "Retention"), h("th", {}, "Rules"), h("th", {}))),
    tbody);

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Series"), count, h("div", { class: "spacer" }),
      plotMatching, plotSelected,
      h("button", { class: "primary", id: "new-series", onclick: newSeriesDialog }, "+ New series")),
    h("div", { class: "card" },
      h("div", { class: "controls" }, h("label", { class: "search" }, search)),
      hint, labelBar, h("div", { class: "table-wrap" }, table)),
  );

  const addFilter = (filter) => {
    const parts = search.value.trim().split(/\s+/).filter((p) => p && !p.startsWith(`${filter.split("=")[0]}=`));
    search.value = [...parts, filter].join(" ");
    load();
  };

  function row(series) {
    const box = h("input", { type: "checkbox", checked: selected.has(series.key), onclick: (e) => e.stopPropagation(),
      onchange: (e) => {
        if (e.target.checked) selected.add(series.key); else selected.delete(series.key);
        plotSelected.disabled = selected.size === 0;
        plotSelected.lastChild.textContent = selected.size ? `Plot selected (${selected.size})` : "Plot selected";
      } });
    const cells = Object.fromEntries(["points", "first", "last", "latest", "retention", "rules"]
      .map((name) => [name, h("td", { class: ["points", "latest"].includes(name) ? "num muted" : "muted" }, "…")]));
    const tr = h("tr", { class: "clickable", dataset: { key: series.key }, onclick: () => go(`#/series/${enc(series.key)}`) },
      h("td", {}, box), h("td", {}, h("span", { class: "key" }, series.key)),
      h("td", { class: "wrap labels" }, h("div", { class: "chips" }, labelChips(series.labels, addFilter))),
      cells.points, cells.first, cells.last, cells.latest, cells.retention, cells.rules,
      h("td", {}, h("button", { class: "ghost small", title: "Open in the explorer",
        onclick: (e) => { e.stopPropagation(); go(exploreHash([series.key])); } }, icon("explore"), "Plot")));
    return { tr, cells };
  }

  function fill(cells, info, latest) {
    const set = (name, text, title) => {
      cells[name].textContent = text;
      cells[name].classList.remove("muted");
      if (title) cells[name].title = title;
    };
    set("points", fmtCount(info.total_samples));
    set("first", fmtTime(info.first_timestamp));
    set("last", fmtTime(info.last_timestamp));
    set("latest", latest ? fmtNum(latest[1]) : "—");
    set("retention", info.retention_ms ? fmtDuration(info.retention_ms) : "forever");
    set("rules", info.rules.length ? info.rules.map((r) => `${r.aggregation}/${fmtDuration(r.bucket_ms)}`).join(", ") : "—",
      info.rules.map((r) => `→ ${r.dest}`).join("\n"));
  }

  function showLabels(list) {
    const values = new Map();
    for (const s of list) for (const [k, v] of Object.entries(s.labels)) {
      const id = `${k}=${v}`;
      values.set(id, (values.get(id) || 0) + 1);
    }
    const top = [...values.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 14);
    labelBar.replaceChildren(...(top.length ? [h("span", { class: "muted small" }, "Labels:")] : []),
      ...top.map(([id, n]) => h("button", { class: "chip", type: "button", onclick: () => addFilter(id) },
        id, h("span", { class: "n" }, n))));
  }

  async function load() {
    const gen = ++generation;
    const { filters, words } = splitQuery(search.value);
    window.history.replaceState(null, "", search.value.trim() ? `#/series?q=${enc(search.value.trim())}` : "#/series");
    plotMatching.hidden = !filters.length;
    if (filters.length && !filters.some((f) => /^[^!=]+=.+/.test(f))) {
      hint.textContent = "Add at least one filter that matches a value, like city=austin.";
      return;
    }
    hint.textContent = "";
    let list;
    try {
      list = await get("/v1/series", { filter: filters, limit: 1000 });
    } catch (err) {
      showError(err, "Cannot list series");
      return;
    }
    if (gen !== generation) return;
    const rows = list.series.filter((s) => words.every((w) => s.key.toLowerCase().includes(w)));
    count.textContent = `${fmtCount(rows.length)}${list.next ? "+" : ""} series`;
    showLabels(rows);
    if (!rows.length) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 10 }, h("div", { class: "empty" },
        h("strong", {}, search.value.trim() ? "No series match" : "No series yet"),
        search.value.trim() ? "Try another filter." : "Create one, or write points with ?create=true."))));
      return;
    }
    const built = rows.slice(0, SHOWN).map((s) => ({ series: s, ...row(s) }));
    tbody.replaceChildren(...built.map((b) => b.tr));
    if (rows.length > SHOWN) {
      tbody.append(h("tr", {}, h("td", { colspan: 10, class: "muted" }, `Showing ${SHOWN} of ${fmtCount(rows.length)}: refine the search.`)));
    }
    // With a label filter, one request brings every latest value; otherwise one per series.
    let latest = null;
    if (filters.length) {
      try {
        const body = await get("/v1/latest", { filter: filters });
        latest = new Map(body.series.map((s) => [s.key, s.t === null ? null : [s.t, s.v]]));
      } catch (err) {
        showError(err, "Cannot read the latest values");
      }
    }
    await pool(built, 6, async ({ series, cells }) => {
      if (gen !== generation) return;
      try {
        const info = await get(seriesPath(series.key));
        const point = latest?.has(info.key) ? latest.get(info.key) : await latestPoint(info);
        if (gen === generation) fill(cells, info, point);
      } catch (err) {
        if (err.status !== 404) showError(err, series.key);
      }
    });
  }

  search.addEventListener("input", debounce(load, 250));
  load();
}

export function newSeriesDialog() {
  const key = h("input", { name: "key", required: true, placeholder: "temp:austin", pattern: "[A-Za-z0-9:._\\-]+" });
  const labels = h("textarea", { name: "labels", rows: 3, placeholder: "city=austin\nkind=temp" });
  const retention = h("input", { name: "retention", placeholder: "30d (empty: forever)" });
  const policy = h("select", { name: "duplicate_policy" }, h("option", { value: "" }, "server default"),
    POLICIES.map((p) => h("option", { value: p }, p)));
  return openDialog({
    title: "New series",
    submit: "Create series",
    body: [
      h("label", { class: "field" }, h("span", {}, "Key"), key, h("small", {}, "Letters, digits and : . _ -")),
      h("label", { class: "field" }, h("span", {}, "Labels"), labels, h("small", {}, "name=value, one per line")),
      h("div", { class: "form-grid" },
        h("label", { class: "field" }, h("span", {}, "Retention"), retention),
        h("label", { class: "field" }, h("span", {}, "Duplicate policy"), policy)),
    ],
    onSubmit: async () => {
      const body = { key: key.value.trim() };
      try {
        body.labels = parseLabels(labels.value);
      } catch (err) {
        showError({ title: "Invalid labels", detail: err.message });
        return false;
      }
      if (retention.value.trim()) body.retention = retention.value.trim();
      if (policy.value) body.duplicate_policy = policy.value;
      try {
        await post("/v1/series", body);
      } catch (err) {
        showError(err, "Cannot create the series");
        return false;
      }
      toast(`Created ${body.key}`);
      go(`#/series/${enc(body.key)}`);
      return true;
    },
  });
}

// -- one series ------------------------------------------------------------------------------

export function seriesDetail(root, { rest }) {
  const key = rest[0];
  const plot = new TimePlot({ height: 240, onError: (err) => showError(err, "Cannot read points") });
  const tiles = h("div", { class: "tiles four" });
  const labelsHead = h("div", { class: "chips" });
  const recent = h("tbody");
  const rules = h("div", { class: "card-body" });
  const tiers = h("div", { class: "card-body", id: "rollups" });
  const labelRows = h("div", { class: "form" });
  let info = null;

  // Add or edit a point.
  const pointT = h("input", { id: "point-t", value: "now", placeholder: "now, epoch ms or 2024-01-31T12:00:00Z" });
  const pointV = h("input", { id: "point-v", type: "number", step: "any", placeholder: "21.5", required: true });
  const pointForm = h("form", { class: "form", id: "point-form", onsubmit: savePoint },
    h("div", { class: "form-grid" },
      h("label", { class: "field" }, h("span", {}, "Time"), pointT),
      h("label", { class: "field" }, h("span", {}, "Value"), pointV)),
    h("div", { class: "row end" }, h("span", { class: "muted small", style: "flex:1" }, "Replaces the value at that time, if any."),
      h("button", { class: "primary", type: "submit" }, "Save point")));

  // Delete a range.
  const delFrom = h("input", { id: "delete-from", placeholder: "- (first), -1h, 2024-01-31T12:00:00Z", required: true });
  const delTo = h("input", { id: "delete-to", placeholder: "+ (last), now", required: true });
  const deleteForm = h("form", { class: "form", id: "delete-form", onsubmit: deleteRange },
    h("div", { class: "form-grid" },
      h("label", { class: "field" }, h("span", {}, "From"), delFrom),
      h("label", { class: "field" }, h("span", {}, "To"), delTo)),
    h("div", { class: "row end" }, h("button", { class: "danger", type: "submit" }, "Delete range…")));

  // Add a rule.
  const ruleDest = h("input", { placeholder: `${key}:avg:1h`, required: true });
  const ruleAgg = h("select", {}, AGGREGATIONS.map((a) => h("option", { value: a }, a)));
  const ruleBucket = h("input", { placeholder: "1h", required: true });
  const ruleForm = h("form", { class: "form", onsubmit: addRule, style: "margin-top:12px" },
    h("div", { class: "form-grid" },
      h("label", { class: "field" }, h("span", {}, "Destination"), ruleDest),
      h("label", { class: "field" }, h("span", {}, "Aggregation"), ruleAgg),
      h("label", { class: "field" }, h("span", {}, "Bucket"), ruleBucket)),
    h("div", { class: "row end" }, h("button", { type: "submit" }, "Add rule")));

  const card = (title, body, extra = null) => h("div", { class: "card" },
    h("div", { class: "card-head" }, h("h2", {}, title), h("div", { class: "spacer" }), extra), body);

  root.append(
    h("div", { class: "page-head" },
      h("div", {}, h("div", { class: "crumb" }, h("a", { href: "#/series" }, "Series"), " /"),
        h("h1", { class: "mono", id: "series-title" }, key)),
      labelsHead, h("div", { class: "spacer" }),
      h("button", { onclick: () => go(exploreHash([key])) }, icon("explore"), "Explore"),
      h("button", { class: "danger", onclick: deleteSeries }, "Delete series")),
    h("div", { class: "grid-2" },
      h("div", { class: "stack" },
        h("div", { class: "card" }, tiles),
        h("div", { class: "card" }, plot.element),
        card("Recent points", h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Time (UTC)"), h("th", {}, "Epoch ms"), h("th", { class: "num" }, "Value"), h("th", {}))),
          recent)))),
      h("div", { class: "stack" },
        card("Add or edit a point", h("div", { class: "card-body" }, pointForm)),
        card("Labels", h("div", { class: "card-body form" }, labelRows,
          h("div", { class: "row end" },
            h("button", { type: "button", class: "ghost", onclick: () => labelRows.append(labelRow("", "")) }, "+ Label"),
            h("button", { type: "button", onclick: saveLabels }, "Save labels")))),
        card("Rollup tiers", tiers),
        card("Compaction rules", h("div", {}, rules)),
        card("Delete points", h("div", { class: "card-body" }, deleteForm)))),
  );

  function labelRow(k, v) {
    const rowEl = h("div", { class: "row label-row" },
      h("input", { value: k, placeholder: "name", style: "flex:1" }),
      h("input", { value: v, placeholder: "value", style: "flex:1.4" }),
      h("button", { type: "button", class: "ghost", title: "Remove", onclick: () => rowEl.remove() }, "✕"));
    return rowEl;
  }

  const reload = (options) => load(options).catch((err) => showError(err, "Cannot load the series"));

  async function load({ replot = false } = {}) {
    try {
      info = await get(seriesPath(key));
    } catch (err) {
      if (err.status === 404) {
        root.replaceChildren(h("div", { class: "card empty" }, h("strong", {}, `No series ${key}`),
          h("a", { href: "#/series" }, "Back to the list")));
      } else showError(err, "Cannot load the series");
      return;
    }
    const latest = await latestPoint(info);
    const tile = (label, value, small = false) => h("div", { class: "tile" },
      h("div", { class: "label" }, label), h("div", { class: `value${small ? " smaller" : ""}` }, value));
    tiles.replaceChildren(
      tile("Points", fmtCount(info.total_samples)),
      tile("Latest value", latest ? fmtNum(latest[1]) : "—"),
      tile("First (UTC)", fmtTime(info.first_timestamp), true),
      tile("Last (UTC)", fmtTime(info.last_timestamp), true),
      tile("Retention", info.retention_ms ? fmtDuration(info.retention_ms) : "forever"),
      tile("Duplicates", info.duplicate_policy || "server default", true),
      tile("Memory", fmtBytes(info.memory_bytes)),
      tile("Chunks", `${info.chunk_count} × ${fmtBytes(info.chunk_size)}`, true),
    );
    labelsHead.replaceChildren(...labelChips(info.labels));
    labelRows.replaceChildren(...Object.entries(info.labels).map(([k, v]) => labelRow(k, v)));
    if (!Object.keys(info.labels).length) labelRows.append(h("div", { class: "muted small" }, "No labels."));
    rules.replaceChildren(...[
      info.source_key ? h("p", { class: "muted small", style: "margin:0 0 8px" }, "Compacted from ",
        h("a", { href: `#/series/${enc(info.source_key)}` }, info.source_key)) : null,
      info.rules.length ? h("div", { class: "form" }, info.rules.map((r) => h("div", { class: "row" },
        h("a", { class: "mono", href: `#/series/${enc(r.dest)}` }, r.dest),
        h("span", { class: "pill" }, `${r.aggregation} / ${fmtDuration(r.bucket_ms)}`),
        h("div", { style: "flex:1" }),
        h("button", { class: "ghost small", title: "Remove this rule", onclick: () => removeRule(r.dest) }, "✕"))))
        : h("div", { class: "muted small" }, "No rules: new samples are not compacted."),
      ruleForm].filter(Boolean));
    const { points } = await get(`${seriesPath(key)}/points`, { reverse: true, count: 12 });
    recent.replaceChildren(...(points.length ? points.map(([t, v]) => h("tr", {},
      h("td", {}, fmtTime(t, true)), h("td", { class: "mono muted" }, t), h("td", { class: "num" }, fmtNum(v)),
      h("td", {}, h("button", { class: "ghost small", onclick: () => { pointT.value = String(t); pointV.value = String(v); pointV.focus(); } }, "Edit"))))
      : [h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No points yet."))]));
    if (info.first_timestamp !== null && (replot || !plot.fig)) {
      const pad = Math.max(60_000, (info.last_timestamp - info.first_timestamp) * 0.02);
      await plot.show({ keys: [key], from: info.first_timestamp - pad, to: info.last_timestamp + pad });
    } else if (info.first_timestamp === null) {
      plot.show({ keys: [], from: 0, to: 0 });
    }
  }

  async function savePoint(event) {
    event.preventDefault();
    const t = pointT.value.trim() || "now";
    try {
      const saved = await put(`${seriesPath(key)}/points/${enc(t)}`, { v: Number(pointV.value) });
      toast(`Saved ${fmtNum(saved.v)} at ${fmtTime(saved.t, true)}`);
    } catch (err) {
      showError(err, "Cannot save the point");
      return;
    }
    pointV.value = "";
    await reload({ replot: true });
  }

  async function deleteRange(event) {
    event.preventDefault();
    const from = delFrom.value.trim();
    const to = delTo.value.trim();
    const sure = await confirmDialog("Delete points?",
      `Delete every point of ${key} from ${from} to ${to} (inclusive)? This cannot be undone.`, "Delete points");
    if (!sure) return;
    try {
      const { deleted } = await del(`${seriesPath(key)}/points`, { from, to });
      toast(`Deleted ${fmtCount(deleted)} point${deleted === 1 ? "" : "s"}`);
    } catch (err) {
      showError(err, "Cannot delete the range");
      return;
    }
    await reload({ replot: true });
  }

  async function saveLabels() {
    const labels = {};
    for (const r of labelRows.querySelectorAll(".label-row")) {
      const [k, v] = [...r.querySelectorAll("input")].map((i) => i.value.trim());
      if (k) labels[k] = v;
    }
    try {
      await patch(seriesPath(key), { labels });
      toast("Labels saved");
    } catch (err) {
      showError(err, "Cannot save the labels");
    }
    await reload();
  }

  async function addRule(event) {
    event.preventDefault();
    if (Number.isNaN(parseDuration(ruleBucket.value))) {
      showError({ title: "Invalid bucket", detail: "use a duration like 1h, 5m or 30s" });
      return;
    }
    try {
      await post(`${seriesPath(key)}/rules`, { dest: ruleDest.value.trim(), agg: ruleAgg.value, bucket: ruleBucket.value.trim() });
      toast(`Rule added: ${ruleDest.value.trim()}`);
      ruleDest.value = "";
      ruleBucket.value = "";
    } catch (err) {
      showError(err, "Cannot add the rule");
    }
    await reload();
  }

  async function removeRule(dest) {
    if (!(await confirmDialog("Remove rule?", `Stop compacting ${key} into ${dest}? The destination keeps its data.`, "Remove rule"))) return;
    try {
      await del(`${seriesPath(key)}/rules/${enc(dest)}`);
      toast("Rule removed");
    } catch (err) {
      showError(err, "Cannot remove the rule");
    }
    await reload();
  }

  async function deleteSeries() {
    if (!(await confirmDialog("Delete series?", `Delete ${key} and all its ${fmtCount(info?.total_samples ?? 0)} points? This cannot be undone.`, "Delete series"))) return;
    try {
      await del(seriesPath(key));
    } catch (err) {
      showError(err, "Cannot delete the series");
      return;
    }
    toast(`Deleted ${key}`);
    go("#/series");
  }

  // Rollup tiers: what each covers and costs, a form to set them, the backfill's progress.
  let tierRows = null;
  let following = null;
  const tierRow = (bucket = "", retention = "") => {
    const rowEl = h("div", { class: "row tier-row" },
      h("input", { value: bucket, placeholder: "bucket: 1m", style: "flex:1", "aria-label": "Bucket" }),
      h("input", { value: retention, placeholder: "kept: 90d (empty: forever)", style: "flex:1.4", "aria-label": "Retention" }),
      h("button", { type: "button", class: "ghost", title: "Remove", onclick: () => rowEl.remove() }, "✕"));
    return rowEl;
  };

  async function loadTiers(job = null) {
    let body;
    try {
      body = await get(`${seriesPath(key)}/rollups`);
    } catch (err) {
      if (err.status !== 404) showError(err, "Cannot read the rollup tiers");
      return;
    }
    const spent = body.tiers.reduce((sum, t) => sum + t.memory_bytes, 0);
    const share = body.raw.memory_bytes ? ` (${((100 * spent) / body.raw.memory_bytes).toFixed(1)} % of raw)` : "";
    const status = h("p", { class: "muted small", id: "rollup-status", style: "margin:0 0 8px" },
      !body.tiers.length ? "No tiers: aggregated reads use raw samples."
        : `${body.origin === "series" ? "Set on this series" : `From ${body.origin.replace("policy:", "policy ")}`}`
          + ` · ${fmtBytes(spent)}${share}${body.pending ? " · backfill running…" : ""}`);
    const table = body.tiers.length ? h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Tier"), h("th", {}, "Covers (UTC)"), h("th", { class: "num" }, "Buckets"), h("th", { class: "num" }, "Size"))),
      h("tbody", { id: "rollup-rows" }, body.tiers.map((t) => h("tr", { dataset: { tier: t.bucket } },
        h("td", {}, h("span", { class: "mono" }, t.bucket), h("br"),
          h("span", { class: "muted small" }, `kept ${t.retention_ms ? fmtDuration(t.retention_ms) : "forever"}`)),
        h("td", { class: "muted small" }, t.covers ? [fmtTime(t.covers.from).slice(0, 16), h("br"), `– ${fmtTime(t.covers.to).slice(0, 16)}`] : "not filled yet"),
        h("td", { class: "num" }, fmtCount(t.buckets)),
        h("td", { class: "num" }, fmtBytes(t.memory_bytes)))))) : null;
    tierRows = h("div", { class: "form", id: "rollup-form" },
      ...(body.tiers.length ? body.tiers.map((t) => tierRow(t.bucket, t.retention_ms ? fmtDuration(t.retention_ms) : ""))
        : [tierRow("1m", "90d"), tierRow("1h", "730d"), tierRow("1d", "")]));
    tiers.replaceChildren(status, ...(table ? [h("div", { class: "table-wrap" }, table)] : []),
      h("p", { class: "muted small" }, "Aggregated reads whose bucket is a multiple of a tier's use it; a backfill job fills new tiers from the history."),
      tierRows,
      h("div", { class: "row end" },
        h("button", { type: "button", class: "ghost", onclick: () => tierRows.append(tierRow()) }, "+ Tier"),
        body.tiers.length ? h("button", { type: "button", class: "danger", id: "rollup-remove", onclick: removeTiers }, "Remove tiers") : null,
        h("button", { type: "button", id: "rollup-save", onclick: saveTiers }, "Save tiers")));
    if (job && job !== following) followBackfill(job);
  }

  async function followBackfill(jobId) {
    following = jobId;
    while (following === jobId) {
      let job;
      try {
        job = await get(`/v1/jobs/${enc(jobId)}`);
      } catch (err) {
        showError(err, "Cannot follow the backfill");
        return;
      }
      const status = tiers.querySelector("#rollup-status");
      if (status) status.dataset.job = job.status;
      if (["finished", "failed", "canceled"].includes(job.status)) {
        following = null;
        if (job.status === "finished") toast("Tiers filled from the history");
        else showError({ title: `Backfill ${job.status}`, detail: job.error || "" });
        await loadTiers();
        await reload({ replot: true }); // the plot's buckets now come from the tiers
        return;
      }
      if (status) status.textContent = `Backfill: ${job.progress.percent} % · ${job.progress.message}`;
      await new Promise((resolve) => { setTimeout(resolve, 500); });
    }
  }

  async function saveTiers() {
    const wanted = [...tierRows.querySelectorAll(".tier-row")].map((r) => [...r.querySelectorAll("input")].map((i) => i.value.trim()))
      .filter(([bucket]) => bucket).map(([bucket, retention]) => (retention ? { bucket, retention } : { bucket }));
    if (!wanted.length) {
      showError({ title: "No tiers", detail: "give at least one bucket, or remove the tiers" });
      return;
    }
    let body;
    try {
      body = await put(`${seriesPath(key)}/rollups`, { tiers: wanted });
    } catch (err) {
      showError(err, "Cannot set the tiers");
      return;
    }
    toast(body.backfill_job ? "Tiers set: a backfill job fills them" : "Tiers set");
    await loadTiers(body.backfill_job);
  }

  async function removeTiers() {
    if (!(await confirmDialog("Remove tiers?", `Remove the rollup tiers of ${key}? Reads will use raw samples.`, "Remove tiers"))) return;
    try {
      await del(`${seriesPath(key)}/rollups`);
      toast("Tiers removed");
    } catch (err) {
      showError(err, "Cannot remove the tiers");
    }
    await loadTiers();
  }

  reload();
  loadTiers();
  return () => { following = null; plot.destroy(); };
}
