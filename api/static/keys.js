// API keys (admin): the keys there are, a form to make one (its token shown once), revoke.

import { del, get, post } from "./api.js";
import { confirmDialog, enc, fmtAgo, fmtTime, h, showError, toast } from "./util.js";

const SCOPES = ["read", "write", "admin"];

function limits(key) {
  const parts = [];
  if (key.prefix) parts.push(`prefix ${key.prefix}`);
  for (const f of key.filters) parts.push(`filter ${f}`);
  if (key.rate_limit) parts.push(`${key.rate_limit}/s`);
  return parts.join(", ") || "—";
}

export function keysPage(root) {
  const tbody = h("tbody", { id: "key-rows" });
  const notice = h("div", { class: "muted", id: "keys-notice", hidden: true });
  const name = h("input", { id: "key-name", required: true, maxlength: 100, placeholder: "grafana" });
  const scopeBoxes = SCOPES.map((s) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: s, name: "scope", checked: s === "read" }), s));
  const prefix = h("input", { id: "key-prefix", placeholder: "lab1: (optional)" });
  const filters = h("input", { id: "key-filters", placeholder: "tenant=lab1 (optional, space-separated)" });
  const rate = h("input", { id: "key-rate", type: "number", min: "0", step: "any", placeholder: "server default" });
  const token = h("div", { class: "card", id: "key-token", hidden: true });
  const form = h("form", { class: "card", id: "key-form", onsubmit: create },
    h("div", { class: "card-head" }, h("h2", {}, "New key")),
    h("div", { class: "card-body form" },
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("div", { class: "field" }, h("span", {}, "Scopes"), h("div", { class: "row" }, scopeBoxes)),
      h("label", { class: "field" }, h("span", {}, "Key prefix"), prefix),
      h("label", { class: "field" }, h("span", {}, "Label filters"), filters),
      h("label", { class: "field" }, h("span", {}, "Rate limit (requests/s)"), rate),
      h("div", { class: "row end" }, h("button", { class: "primary", type: "submit", id: "create-key" }, "Create key"))));

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "API keys"),
      h("span", { class: "sub" }, "needs an admin key; secrets are shown once, when a key is made")),
    notice, token,
    h("div", { class: "grid-jobs" }, form,
      h("div", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, "Keys")),
        h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Name"), h("th", {}, "Scopes"),
            h("th", {}, "Limits"), h("th", {}, "Created (UTC)"), h("th", {}, "Last used"), h("th", {}))),
          tbody)))));

  async function refresh() {
    try {
      const { keys } = await get("/v1/keys");
      notice.hidden = true;
      tbody.replaceChildren(...keys.map((key) => h("tr", { dataset: { id: key.id } },
        h("td", { class: "mono" }, key.id), h("td", {}, key.name), h("td", {}, key.scopes.join(", ")),
        h("td", {}, limits(key)), h("td", {}, fmtTime(key.created_at)),
        h("td", {}, key.last_used ? fmtAgo(key.last_used) : "never"),
        h("td", {}, h("button", { class: "danger small", onclick: () => revoke(key) }, "Revoke")))));
      if (!keys.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No keys: the API is open to clients on loopback only.")));
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        notice.hidden = false;
        notice.textContent = "Managing keys needs an admin key: enter one under API key in the sidebar.";
        tbody.replaceChildren();
      } else {
        showError(err, "Cannot list keys");
      }
    }
  }

  async function create(event) {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      scopes: scopeBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
    };
    if (prefix.value.trim()) body.prefix = prefix.value.trim();
    const wanted = filters.value.trim().split(/\s+/).filter(Boolean);
    if (wanted.length) body.filters = wanted;
    if (rate.value) body.rate_limit = Number(rate.value);
    try {
      const made = await post("/v1/keys", body);
      token.hidden = false;
      token.replaceChildren(
        h("div", { class: "card-head" }, h("h2", {}, `Key ${made.key.id} (${made.key.name})`)),
        h("div", { class: "card-body" },
          h("p", {}, "Copy the token now: it is shown only this once. Send it as Authorization: Bearer <token>."),
          h("pre", { class: "mono", id: "new-token" }, made.token)));
      form.reset();
      toast(`Key ${made.key.id} created`);
      await refresh();
    } catch (err) {
      showError(err, "Cannot create the key");
    }
  }

  async function revoke(key) {
    if (!(await confirmDialog(`Revoke ${key.name}?`, `Requests with key ${key.id} are refused from now on.`, "Revoke"))) return;
    try {
      await del(`/v1/keys/${enc(key.id)}`);
      toast(`Key ${key.id} revoked`);
      await refresh();
    } catch (err) {
      showError(err, "Cannot revoke the key");
    }
  }

  refresh();
}
