// The public API, from the browser: JSON in and out, problem+json errors, the optional API key.

const KEY_STORAGE = "tsapi.apiKey";

export const apiKey = () => localStorage.getItem(KEY_STORAGE) || "";

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(extra = {}) {
  const out = { Accept: "application/json, application/problem+json", ...extra };
  const key = apiKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

/** An error answered by the API: the fields of its problem document are copied onto it. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    Object.assign(this, problem);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
  }
}

function url(path, query = {}) {
  const u = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== null && v !== undefined && v !== "") u.searchParams.append(name, String(v));
    }
  }
  return u;
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export async function request(method, path, { query, body, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let res = await fetch(url(path, query), init);
  for (let retry = 0; res.status === 429 && retry < 3; retry += 1) {
    // Over the key's rate limit: wait as told (at most 5 s) and try again.
    await sleep(Math.min(5, Number(res.headers.get("Retry-After")) || 1) * 1000);
    res = await fetch(url(path, query), init);
  }
  const text = res.status === 204 ? "" : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { title: `HTTP ${res.status}`, detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) window.dispatchEvent(new CustomEvent("tsapi:auth"));
    throw new ApiError(res.status, data || { title: res.statusText });
  }
  return data;
}

export const get = (path, query, opts) => request("GET", path, { query, ...opts });
export const post = (path, body, query) => request("POST", path, { body, query });
export const put = (path, body) => request("PUT", path, { body });
export const patch = (path, body) => request("PATCH", path, { body });
export const del = (path, query) => request("DELETE", path, { query });

/**
 * A URL the page can put in <img>, <iframe> or a download link. Without an API key that is the
 * file's own URL; with one, the file is fetched with the key and handed over as a blob: URL.
 */
export async function fileUrl(path) {
  if (!apiKey()) return path;
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw new ApiError(res.status, { title: `Cannot load ${path}` });
  return URL.createObjectURL(await res.blob());
}

export const seriesPath = (key) => `/v1/series/${encodeURIComponent(key)}`;
