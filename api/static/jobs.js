// Jobs: a form per job type generated from its params schema, a live list, and one job's page
// with its progress, result, plot, PNG, tables and files.

import { fileUrl, get, post } from "./api.js";
import { schemaForm } from "./schemaform.js";
import { enc, fmtAgo, fmtBytes, fmtCount, fmtDuration, fmtNum, fmtTime, h, showError, toast } from "./util.js";

const ENDED = new Set(["finished", "failed", "canceled"]);
const go = (hash) => { window.location.hash = hash; };

const badge = (status) => h("span", { class: `badge ${status}`, dataset: { status } }, status);

function progressBar(job) {
  const percent = job.status === "finished" ? 100 : job.progress.percent;
  return h("div", { class: "progress" },
    h("div", { class: `bar ${job.status}` }, h("i", { style: `width:${percent}%` })),
    h("small", {}, `${percent}% · ${job.progress.message}`));
}

function duration(job) {
  if (!job.started_at) return "—";
  const ms = (job.ended_at || Date.now()) - job.started_at;
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : fmtDuration(Math.round(ms / 1000) * 1000);
}

function summary(params) {
  const list = params.keys || params.filter;
  if (list) return list.join(", ");
  if (params.source) return `${params.source} → ${params.dest || "…"}`;
  return Object.entries(params).slice(0, 3).map(([k, v]) => `${k}=${v}`).join(" ");
}

// -- list and submit form ------------------------------------------------------------------

export function jobsList(root, { params }) {
  let types = [];
  let form = null;
  let current = params.get("type") || "plot";
  let timer = null;
  let stopped = false;

  const typeSeg = h("div", { class: "seg", id: "job-types" });
  const description = h("div", { class: "muted small" });
  const formHost = h("div");
  const submit = h("button", { class: "primary", type: "submit", id: "submit-job" }, "Submit job");
  const datalist = h("datalist", { id: "job-series-keys" });
  const statusFilter = h("select", { id: "job-status-filter", onchange: () => refresh() },
    h("option", { value: "" }, "all statuses"),
    ["queued", "started", "finished", "failed", "canceled"].map((s) => h("option", { value: s }, s)));
  const tbody = h("tbody", { id: "job-rows" });

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Jobs"), h("span", { class: "sub" }, "analysis runs on the workers; results are kept for a week")),
    h("div", { class: "grid-jobs" },
      h("form", { class: "card", id: "job-form", onsubmit: submitJob },
        h("div", { class: "card-head" }, h("h2", {}, "New job")),
        h("div", { class: "card-body form" }, typeSeg, description, formHost, datalist,
          h("div", { class: "row end" }, submit))),
      h("div", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, "Recent jobs"), h("div", { class: "spacer" }), statusFilter),
        h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Status"), h("th", {}, "Job"), h("th", {}, "Progress"),
            h("th", {}, "Created"), h("th", { class: "num" }, "Took"))),
          tbody)))),
  );

  function chooseType(name) {
    current = types.some((t) => t.name === name) ? name : types[0]?.name;
    const type = types.find((t) => t.name === current);
    for (const b of typeSeg.children) b.classList.toggle("on", b.dataset.type === current);
    if (!type) return;
    description.textContent = type.description;
    form = schemaForm(type.params_schema, { datalist: datalist.id });
    formHost.replaceChildren(form.element);
    window.history.replaceState(null, "", `#/jobs?type=${enc(current)}`);
  }

  async function submitJob(event) {
    event.preventDefault();
    let jobParams;
    try {
      jobParams = form.read();
    } catch (err) {
      showError({ title: "Check the form", detail: err.message });
      return;
    }
    submit.disabled = true;
    try {
      const job = await post("/v1/jobs", { type: current, params: jobParams });
      toast(`Submitted ${current} job`, { detail: job.id });
      go(`#/jobs/${enc(job.id)}`);
    } catch (err) {
      form.showErrors(err.errors);
      showError(err, "Cannot submit the job");
    } finally {
      submit.disabled = false;
    }
  }

  async function refresh() {
    clearTimeout(timer);
    let jobs = [];
    try {
      ({ jobs } = await get("/v1/jobs", { limit: 50, status: statusFilter.value }));
    } catch (err) {
      showError(err, "Cannot list jobs");
    }
    if (stopped) return;
    tbody.replaceChildren(...(jobs.length ? jobs.map((job) => h("tr", {
      class: "clickable", dataset: { id: job.id, status: job.status }, onclick: () => go(`#/jobs/${enc(job.id)}`),
    },
    h("td", {}, badge(job.status)),
    h("td", { class: "wrap" }, h("div", {}, h("strong", {}, job.type), " ", h("span", { class: "mono muted" }, job.id.slice(0, 8))),
      h("div", { class: "muted small", style: "max-width:260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" }, summary(job.params))),
    h("td", {}, progressBar(job)),
    h("td", { class: "muted", title: fmtTime(job.created_at) }, fmtAgo(job.created_at)),
    h("td", { class: "num muted" }, duration(job))))
      : [h("tr", {}, h("td", { colspan: 5 }, h("div", { class: "empty" }, h("strong", {}, "No jobs yet"), "Submit one with the form.")))]));
    const active = jobs.some((j) => !ENDED.has(j.status));
    timer = setTimeout(refresh, active ? 1000 : 5000);
  }

  get("/v1/job-types").then((body) => {
    types = body.types;
    typeSeg.replaceChildren(...types.map((t) => h("button", { type: "button", dataset: { type: t.name }, onclick: () => chooseType(t.name) }, t.name)));
    chooseType(current);
  }).catch((err) => showError(err, "Cannot load the job types"));
  get("/v1/series", { limit: 1000 }).then((list) => {
    datalist.replaceChildren(...list.series.map((s) => h("option", { value: s.key })));
  }).catch(() => {});
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// -- one job ---------------------------------------------------------------------------------

export function jobDetail(root, { rest }) {
  const id = rest[0];
  let timer = null;
  let stopped = false;
  let shownResult = false;
  let lastStatus = null;
  const blobs = [];

  const head = h("div", { class: "page-head" });
  const overview = h("div", { class: "card" });
  const result = h("div", { class: "stack", id: "job-result" });
  const paramsCard = h("div", { class: "card" });
  root.append(head, overview, result, paramsCard);

  async function url(path) {
    const u = await fileUrl(path);
    if (u.startsWith("blob:")) blobs.push(u);
    return u;
  }

  function renderHead(job) {
    const active = !ENDED.has(job.status);
    head.replaceChildren(...[
      h("div", {}, h("div", { class: "crumb" }, h("a", { href: "#/jobs" }, "Jobs"), " /"),
        h("h1", {}, `${job.type} job `, h("span", { class: "mono muted", style: "font-size:14px" }, job.id))),
      h("span", { id: "job-status" }, badge(job.status)),
      h("div", { class: "spacer" }),
      active ? h("button", { class: "danger", onclick: cancel }, "Cancel") : null,
      h("button", { onclick: () => rerun(job) }, "Run again")].filter(Boolean));
    const tile = (label, value) => h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value smaller" }, value));
    overview.replaceChildren(
      h("div", { class: "card-body" }, progressBar(job)),
      h("div", { class: "tiles six" },
        tile("Created (UTC)", fmtTime(job.created_at)), tile("Started", fmtTime(job.started_at)),
        tile("Ended", fmtTime(job.ended_at)), tile("Took", duration(job)),
        tile("Worker", job.worker || "—"), tile("Attempts", String(job.attempts))));
    paramsCard.replaceChildren(h("div", { class: "card-head" }, h("h2", {}, "Parameters")),
      h("pre", { class: "json" }, JSON.stringify(job.params, null, 2)));
  }

  async function renderResult(job) {
    shownResult = true;
    if (job.status === "failed" || job.status === "canceled") {
      result.append(h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, job.status === "failed" ? "Error" : "Canceled")),
        h("div", { class: "card-body" }, h("div", { class: "error-box" }, job.error || "canceled"))));
      return;
    }
    const body = await get(`/v1/jobs/${enc(job.id)}/result`);
    const files = Object.fromEntries(job.files.map((f) => [f.name, f]));
    const card = (title, content, extra = null) => h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, title), h("div", { class: "spacer" }), extra), content);

    if (files["plot.html"]) {
      const frame = h("iframe", { class: "job-plot", id: "job-plot-frame", sandbox: "allow-scripts", title: "plot",
        style: `height:${(job.params.height || 400) + 40}px` });
      frame.src = await url(files["plot.html"].url);
      result.append(card("Interactive plot", frame, h("a", { href: files["plot.html"].url, target: "_blank", rel: "noopener" }, "open in a tab")));
    }
    if (files["plot.png"]) {
      const img = h("img", { class: "job-png", id: "job-png", alt: "plot.png" });
      img.src = await url(files["plot.png"].url);
      result.append(card("PNG", h("div", { class: "card-body" }, img)));
    }
    if (job.type === "stats" && body.series) {
      result.append(card("Statistics", table(body.series)));
      if (body.buckets?.length) {
        result.append(card(`Per bucket (${fmtDuration(body.bucket_ms)})`, table(body.buckets.slice(0, 500)),
          body.buckets.length > 500 ? h("span", { class: "muted small" }, `first 500 of ${fmtCount(body.buckets.length)}: see stats.csv`) : null));
      }
    } else if (job.type === "plot") {
      result.append(card("Data", h("div", { class: "card-body" }, kv({
        series: body.series.map((s) => `${s.key} (${fmtCount(s.point_count)} points)`).join(", "),
        "samples in range": fmtCount(body.samples_in_range),
        aggregation: body.aggregation ? `${body.aggregation} per ${fmtDuration(body.bucket_ms)}` : "raw samples",
        range: `${fmtTime(body.from)} → ${fmtTime(body.to)} UTC`,
      }))));
    } else {
      const links = job.type === "downsample" ? h("div", { class: "row", style: "margin-top:12px" },
        h("a", { href: `#/series/${enc(body.dest)}` }, `Open ${body.dest}`),
        h("a", { href: `#/explore?keys=${enc(body.source)},${enc(body.dest)}` }, "Compare in the explorer")) : null;
      result.append(card("Result", h("div", { class: "card-body" }, kv(body), links)));
    }
    if (job.files.length) {
      const rows = await Promise.all(job.files.map(async (f) => h("tr", {},
        h("td", { class: "mono" }, f.name), h("td", { class: "muted" }, f.content_type), h("td", { class: "num" }, fmtBytes(f.size)),
        h("td", {}, h("a", { href: await url(f.url), download: f.name }, "download")))));
      result.append(card("Files", h("div", { class: "table-wrap" }, h("table", { id: "job-files" }, h("tbody", {}, rows)))));
    }
  }

  async function poll() {
    let job;
    try {
      job = await get(`/v1/jobs/${enc(id)}`);
    } catch (err) {
      if (err.status === 404) {
        root.replaceChildren(h("div", { class: "card empty" }, h("strong", {}, "No such job"), "It may have expired. ", h("a", { href: "#/jobs" }, "All jobs")));
      } else showError(err, "Cannot load the job");
      return;
    }
    if (stopped) return;
    renderHead(job);
    if (job.status !== lastStatus) window.dispatchEvent(new CustomEvent("tsapi:jobs")); // nav count
    lastStatus = job.status;
    if (ENDED.has(job.status)) {
      if (shownResult) return;
      await renderResult(job).catch((err) => showError(err, "Cannot load the result"));
    } else {
      timer = setTimeout(poll, 800);
    }
  }

  async function cancel() {
    try {
      await post(`/v1/jobs/${enc(id)}/cancel`);
      toast("Cancel requested");
    } catch (err) {
      showError(err, "Cannot cancel");
    }
    clearTimeout(timer);
    poll();
  }

  async function rerun(job) {
    try {
      const again = await post("/v1/jobs", { type: job.type, params: job.params });
      go(`#/jobs/${enc(again.id)}`);
    } catch (err) {
      showError(err, "Cannot submit the job again");
    }
  }

  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    blobs.forEach((u) => URL.revokeObjectURL(u));
  };
}

function cell(value) {
  if (typeof value === "number") return fmtNum(value);
  if (value === null || value === undefined) return "—";
  return String(value);
}

function table(rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return h("div", { class: "table-wrap" }, h("table", { class: "stats" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c === "key" ? "" : "num" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c === "key" ? "mono" : "num" },
      c === "t" ? fmtTime(r[c]) : c === "count" ? fmtCount(r[c]) : cell(r[c]))))))));
}

function kv(object) {
  return h("dl", { class: "kv" }, Object.entries(object).map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")),
    h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : k.endsWith("_ms") && v !== null ? fmtDuration(v) : cell(v))]));
}
