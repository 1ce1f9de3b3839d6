// A form generated from a JSON Schema (the params schema of a job type, from /v1/job-types).
// Empty fields are left out, so the server's defaults apply.

import { h } from "./util.js";

const WIDE = new Set(["list", "numlist", "text", "textint", "labels", "json"]);
const KEY_FIELDS = new Set(["keys", "source", "dest"]);

function resolver(schema) {
  const defs = schema.$defs || {};
  const resolve = (s) => {
    if (!s.$ref) return s;
    const { $ref, ...rest } = s;
    return { ...resolve(defs[$ref.split("/").pop()] || {}), ...rest };
  };
  return resolve;
}

/** Reduce a property schema to a kind of input: enum, bool, number, text, textint, list... */
function describe(prop, resolve) {
  let p = resolve(prop);
  let nullable = false;
  while (p.anyOf) {
    const options = p.anyOf.map(resolve);
    const concrete = options.filter((o) => o.type !== "null");
    nullable ||= concrete.length < options.length;
    const { anyOf, ...rest } = p;
    if (concrete.length === 1) p = { ...concrete[0], ...rest, type: concrete[0].type, anyOf: concrete[0].anyOf };
    else if (concrete.every((o) => ["integer", "string"].includes(o.type))) return { ...rest, kind: "textint", nullable };
    else return { ...rest, kind: "json", nullable };
    if (!p.anyOf) delete p.anyOf;
  }
  let kind = "json";
  if (p.enum) kind = "enum";
  else if (p.type === "boolean") kind = "bool";
  else if (p.type === "integer" || p.type === "number") kind = "number";
  else if (p.type === "string") kind = "text";
  else if (p.type === "array") {
    const items = resolve(p.items || {});
    if (items.enum) kind = "multi";
    else if (items.type === "number" || items.type === "integer") kind = "numlist";
    else if (items.type === "string") kind = "list";
    p = { ...p, items };
  } else if (p.type === "object" && resolve(p.additionalProperties || {}).type === "string") kind = "labels";
  return { ...p, kind, nullable };
}

/** Split "a, b, c(d,e)" on commas and newlines outside parentheses. */
function splitList(text) {
  return (String(text).match(/(?:[^,\n(]|\([^)]*\))+/g) || []).map((s) => s.trim()).filter(Boolean);
}

function input(name, d, initial, datalist) {
  const placeholder = d.default !== undefined && d.default !== null && d.default !== "" ? `default: ${Array.isArray(d.default) ? d.default.join(", ") : d.default}` : "";
  const value = initial === undefined ? "" : initial;
  switch (d.kind) {
    case "enum": {
      const select = h("select", { name },
        d.required ? null : h("option", { value: "" }, d.default ? `default (${d.default})` : "default"),
        d.enum.map((v) => h("option", { value: v }, v)));
      select.value = value === "" ? (d.required ? d.enum[0] : "") : String(value);
      return [select, () => select.value || undefined];
    }
    case "bool": {
      const box = h("input", { type: "checkbox", name, checked: initial ?? d.default ?? false });
      return [box, () => box.checked];
    }
    case "number": {
      const field = h("input", { type: "number", name, step: d.type === "integer" ? 1 : "any", min: d.minimum, max: d.maximum, value, placeholder });
      return [field, () => (field.value === "" ? undefined : Number(field.value))];
    }
    case "multi": {
      const chosen = new Set(initial ?? d.default ?? d.items.enum);
      const boxes = d.items.enum.map((v) => h("input", { type: "checkbox", name, value: v, checked: chosen.has(v) }));
      const el = h("div", { class: "checks" }, boxes.map((b) => h("label", {}, b, b.value)));
      return [el, () => boxes.filter((b) => b.checked).map((b) => b.value)];
    }
    case "list":
    case "numlist": {
      const field = h("input", { name, value: Array.isArray(value) ? value.join(", ") : value, list: datalist, placeholder: placeholder || "comma separated", autocomplete: "off" });
      return [field, () => {
        const items = splitList(field.value);
        if (!items.length) return undefined;
        return d.kind === "numlist" ? items.map(Number) : items;
      }];
    }
    case "labels": {
      const area = h("textarea", { name, rows: 2, placeholder: "name=value, one per line",
        value: value && typeof value === "object" ? Object.entries(value).map(([k, v]) => `${k}=${v}`).join("\n") : "" });
      return [area, () => {
        const out = {};
        for (const line of splitList(area.value)) {
          const i = line.indexOf("=");
          if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
          else throw new Error(`"${line}" is not name=value`);
        }
        return Object.keys(out).length ? out : undefined;
      }];
    }
    case "json": {
      const area = h("textarea", { name, rows: 2, value: value === "" ? "" : JSON.stringify(value), placeholder: "JSON" });
      return [area, () => (area.value.trim() ? JSON.parse(area.value) : undefined)];
    }
    default: { // text, textint
      const field = h("input", { name, value, placeholder, list: datalist, autocomplete: "off" });
      return [field, () => {
        const v = field.value.trim();
        if (!v) return undefined;
        return d.kind === "textint" && /^-?\d+$/.test(v) ? Number(v) : v;
      }];
    }
  }
}

/**
 * Build the form for `schema`. Returns {element, read(), showErrors(errors)}; read() gives the
 * params object or throws with a message naming the field.
 */
export function schemaForm(schema, { initial = {}, datalist = null } = {}) {
  const resolve = resolver(schema);
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, prop]) => {
    const d = { ...describe(prop, resolve), required: required.has(name) };
    const [control, read] = input(name, d, initial[name], KEY_FIELDS.has(name) ? datalist : null);
    const err = h("div", { class: "err" });
    const title = prop.title || name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
    const label = `${title}${d.required ? " *" : ""}`;
    const help = prop.description || (d.kind === "textint" ? d.description : "");
    const el = d.kind === "bool"
      ? h("label", { class: "field check", dataset: { field: name } }, control, h("span", {}, label))
      : h("label", { class: "field", dataset: { field: name }, style: WIDE.has(d.kind) ? "grid-column: 1 / -1" : null },
        h("span", {}, label), control, help ? h("small", {}, help) : null, err);
    return { name, d, el, read, err };
  });
  const element = h("div", { class: "form-grid" }, fields.map((f) => f.el));

  function read() {
    const params = {};
    for (const f of fields) {
      f.el.classList.remove("invalid");
      f.err.textContent = "";
      let value;
      try {
        value = f.read();
      } catch (err) {
        f.el.classList.add("invalid");
        throw new Error(`${f.name}: ${err.message}`);
      }
      if (value === undefined) {
        if (f.d.required) {
          f.el.classList.add("invalid");
          throw new Error(`${f.name} is required`);
        }
      } else if (!(f.d.kind === "bool" && value === (f.d.default ?? false))) {
        params[f.name] = value;
      }
    }
    return params;
  }

  function showErrors(errors = []) {
    for (const e of errors) {
      const name = String(e.field || "").replace(/^params\./, "").split(".")[0];
      const f = fields.find((x) => x.name === name);
      if (f) {
        f.el.classList.add("invalid");
        f.err.textContent = e.message;
      }
    }
  }

  return { element, read, showErrors };
}
