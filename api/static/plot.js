// An interactive time plot drawn with BokehJS. Data comes as server-side buckets sized to the
// plot's width; every zoom or pan refetches the visible range (with a margin) at that width.

import { get, seriesPath } from "./api.js";
import { debounce, fmtCount, fmtDuration, h, niceBucket } from "./util.js";

export const PALETTE = ["#5794f2", "#73bf69", "#f2a60c", "#f2495c", "#b877d9", "#14a3a3", "#ff780a",
  "#8ab8ff", "#e05ca8", "#96b84d"];

/** ISO-like time ticks (as the plot job draws them), with the date under the first one. */
function isoTicks(B) {
  const date = "%Y-%m-%d";
  return new B.DatetimeTickFormatter({
    milliseconds: "%H:%M:%S.%3N", seconds: "%H:%M:%S", minsec: "%H:%M:%S", minutes: "%H:%M",
    hourmin: "%H:%M", hours: "%H:%M", days: date, months: "%Y-%m", years: "%Y",
    context: new B.DatetimeTickFormatter({
      milliseconds: date, seconds: date, minsec: date, minutes: date, hourmin: date, hours: date,
      days: "", months: "", years: "",
    }),
  });
}

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class TimePlot {
  /** `onStatus(text)` gets a one-line summary after every fetch. */
  constructor({ height = 420, onStatus = () => {}, onError = () => {} } = {}) {
    this.height = height;
    this.onStatus = onStatus;
    this.onError = onError;
    this.target = h("div", { class: "plot" });
    this.overlay = h("div", { class: "overlay" });
    this.element = h("div", { class: "plot-host", dataset: { state: "empty" } }, this.target, this.overlay);
    this.keys = [];
    this.generation = 0;
    this.loaded = null;
    this.fetches = 0;
    this.scheduleFetch = debounce(() => this.fetch(), 200);
    this.retheme = () => this.fig && this.applyTheme();
    window.addEventListener("tsapi:theme", this.retheme);
  }

  /** Draw `keys` over [from, to] with `agg` per bucket, as lines, steps or points. */
  async show({ keys, from, to, agg = "avg", style = "line", filters = [] }) {
    this.clear();
    this.keys = keys;
    this.filters = filters;
    this.agg = agg;
    if (!keys.length || !(to > from)) return this.message("Nothing to plot");
    if (!window.Bokeh?.Plotting) return this.message("BokehJS did not load");
    this.overlay.textContent = "";
    const B = window.Bokeh;
    const xRange = new B.Range1d({ start: from, end: to });
    const hover = new B.HoverTool({
      tooltips: [["series", "$name"], ["time", "@x{%F %T}"], ["value", "@y{0,0.[000]}"]],
      formatters: { "@x": "datetime" },
      mode: "vline",
    });
    const wheel = new B.WheelZoomTool({ dimensions: "width" });
    const fig = B.Plotting.figure({
      height: this.height,
      sizing_mode: "stretch_width",
      x_axis_type: "datetime",
      x_range: xRange,
      tools: [new B.PanTool({ dimensions: "width" }), wheel, new B.BoxZoomTool({ dimensions: "width" }),
        new B.ResetTool(), new B.SaveTool(), hover],
      active_scroll: wheel,
      toolbar_location: "above",
      min_border_left: 50,
    });
    fig.toolbar.logo = null;
    fig.xaxes[0].formatter = isoTicks(B);
    fig.y_range.only_visible = true;
    const drawn = [];
    this.sources = keys.map((key, i) => {
      const source = new B.ColumnDataSource({ data: { x: [], y: [] } });
      const color = PALETTE[i % PALETTE.length];
      const common = { source, name: key, legend_label: key, color };
      if (style === "scatter") drawn.push(fig.scatter({ field: "x" }, { field: "y" }, { ...common, size: 4 }));
      else {
        const line = style === "step"
          ? fig.step({ field: "x" }, { field: "y" }, { ...common, line_width: 1.6, mode: "center" })
          : fig.line({ field: "x" }, { field: "y" }, { ...common, line_width: 1.6 });
        // Markers too while there are few points to see, hidden with the line from the legend.
        const marker = fig.scatter({ field: "x" }, { field: "y" }, { source, color, size: 6, visible: false });
        const few = () => source.data.x.length < 60;
        line.on_change(line.properties.visible, () => { marker.visible = line.visible && few(); });
        source.on_change(source.properties.data, () => { marker.visible = line.visible && few(); });
        drawn.push(line);
      }
      return source;
    });
    hover.renderers = drawn;
    fig.legend.location = "top_left";
    fig.legend.click_policy = "hide";
    this.fig = fig;
    this.applyTheme();
    this.element.dataset.lines = String(keys.length);
    await this.fetch(true); // data first: an empty plot cannot set its initial y range
    if (this.fig !== fig) return;
    this.doc = new B.Document();
    this.doc.add_root(fig);
    await B.Plotting.show(this.doc, this.target);
    xRange.on_change([xRange.properties.start, xRange.properties.end], () => this.scheduleFetch());
  }

  /** Move the visible range (what the reset tool returns to, too) and fetch it. */
  setRange(from, to) {
    if (!this.fig) return;
    const xr = this.fig.x_range;
    xr.setv({ start: from, end: to, reset_start: from, reset_end: to });
  }

  /** Fetch the visible range again even if it is already loaded (for live data). */
  reload() {
    return this.fig ? this.fetch(true) : Promise.resolve();
  }

  /** The points of every key: the series the label filters select in one /v1/query (one
   * TS.MRANGE), any other key on its own. */
  async read(query) {
    const found = new Map();
    if (this.filters?.length) {
      const { series } = await get("/v1/query", { ...query, filter: this.filters, with_labels: false });
      for (const s of series) found.set(s.key, s);
    }
    return Promise.all(this.keys.map((key) => found.get(key) || get(`${seriesPath(key)}/points`, query)));
  }

  async fetch(force = false) {
    if (!this.fig) return;
    const { start: x0, end: x1 } = this.fig.x_range;
    if (!(x1 > x0)) return;
    const span = x1 - x0;
    const px = Math.max(100, this.target.clientWidth - 70);
    const bucket = niceBucket(span / px);
    const loaded = this.loaded;
    if (!force && loaded && loaded.bucket === bucket && x0 >= loaded.from && x1 <= loaded.to) return;
    const from = Math.max(0, Math.floor(x0 - span / 2));
    const to = Math.ceil(x1 + span / 2);
    const generation = ++this.generation;
    const started = performance.now();
    this.element.classList.add("loading");
    this.element.dataset.state = "loading";
    try {
      const results = await this.read({ from, to, agg: this.agg, bucket, bucket_timestamp: "mid" });
      if (generation !== this.generation || !this.fig) return;
      let total = 0;
      const tiers = [...new Set(results.flatMap((r) => r.tiers || []))];
      results.forEach((result, i) => {
        const xs = result.points.map((p) => p[0]);
        const ys = result.points.map((p) => p[1]);
        total += xs.length;
        this.sources[i].data = { x: xs, y: ys };
      });
      this.loaded = { from, to, bucket };
      this.fetches += 1;
      Object.assign(this.element.dataset, {
        state: "ready", bucketMs: String(bucket), points: String(total), fetches: String(this.fetches),
        tiers: tiers.join(","),
      });
      const ms = Math.round(performance.now() - started);
      const served = tiers.length && tiers.join() !== "raw" ? `from tiers ${tiers.join(", ")}` : "from raw samples";
      this.onStatus([`${this.keys.length} series`, `${fmtCount(total)} buckets`,
        `${this.agg} per ${fmtDuration(bucket)}`, served, `fetched in ${ms} ms`, "times in UTC"]);
      if (!total) this.overlay.textContent = "No data in this range";
      else this.overlay.textContent = "";
    } catch (err) {
      if (generation === this.generation) {
        this.element.dataset.state = "error";
        this.onError(err);
      }
    } finally {
      if (generation === this.generation) this.element.classList.remove("loading");
    }
  }

  applyTheme() {
    const fig = this.fig;
    const [panel, border, grid, text, muted] = ["--panel", "--border", "--grid", "--text", "--muted"].map(css);
    fig.background_fill_color = panel;
    fig.border_fill_color = panel;
    fig.outline_line_color = null;
    for (const axis of [...fig.xaxes, ...fig.yaxes]) {
      axis.setv({
        axis_line_color: border, major_tick_line_color: border, minor_tick_line_color: null,
        major_label_text_color: muted, axis_label_text_color: muted, major_label_text_font_size: "11px",
      });
    }
    for (const g of fig.grids) g.grid_line_color = grid;
    fig.legend.setv({
      background_fill_color: panel, background_fill_alpha: 0.85, border_line_color: border,
      label_text_color: text, label_text_font_size: "12px", inactive_fill_color: panel,
      inactive_fill_alpha: 0.7, spacing: 2, padding: 6, margin: 8,
    });
  }

  message(text) {
    this.overlay.textContent = text;
    this.element.dataset.state = "empty";
    this.onStatus([]);
  }

  clear() {
    this.scheduleFetch.cancel();
    this.generation += 1;
    this.loaded = null;
    if (this.doc) {
      this.doc.clear();
      const docs = window.Bokeh.documents;
      docs.splice(docs.indexOf(this.doc), 1);
    }
    this.doc = null;
    this.fig = null;
    this.target.replaceChildren();
    delete this.element.dataset.lines;
  }

  destroy() {
    this.clear();
    window.removeEventListener("tsapi:theme", this.retheme);
  }
}
