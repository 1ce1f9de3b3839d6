// The shell: hash routes (#/series, #/series/<key>, #/explore?..., #/jobs, #/jobs/<id>, #/keys),
// the sidebar (API key, theme) and a count of running jobs.

import { apiKey, get, setApiKey } from "./api.js";
import { explore } from "./explore.js";
import { jobDetail, jobsList } from "./jobs.js";
import { keysPage } from "./keys.js";
import { seriesDetail, seriesList } from "./series.js";
import { toast } from "./util.js";

const ROUTES = {
  series: (rest) => (rest.length ? seriesDetail : seriesList),
  explore: () => explore,
  jobs: (rest) => (rest.length ? jobDetail : jobsList),
  keys: () => keysPage,
};

let cleanup = null;

/** The current route: view name, path segments after it, and query parameters. */
export function currentRoute() {
  const [path, query = ""] = window.location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/").map(decodeURIComponent);
  return { name: ROUTES[name] ? name : "series", rest: rest.filter(Boolean), params: new URLSearchParams(query) };
}

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const route = currentRoute();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === route.name);
  }
  const root = document.getElementById("view");
  root.replaceChildren();
  const view = ROUTES[route.name](route.rest);
  cleanup = view(root, route) || null;
  document.getElementById("sidebar").classList.remove("open");
}

function setupSidebar() {
  const key = document.getElementById("api-key");
  key.value = apiKey();
  key.addEventListener("change", () => {
    setApiKey(key.value.trim());
    toast(key.value.trim() ? "API key saved in this browser" : "API key removed");
    render();
  });
  window.addEventListener("tsapi:auth", () => key.closest(".field").classList.add("invalid"));
  key.addEventListener("input", () => key.closest(".field").classList.remove("invalid"));

  const themes = ["auto", "light", "dark"];
  const name = document.getElementById("theme-name");
  name.textContent = document.documentElement.dataset.theme;
  document.getElementById("theme-btn").addEventListener("click", () => {
    const next = themes[(themes.indexOf(document.documentElement.dataset.theme) + 1) % themes.length];
    document.documentElement.dataset.theme = next;
    localStorage.setItem("tsapi.theme", next);
    name.textContent = next;
    window.dispatchEvent(new CustomEvent("tsapi:theme"));
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    window.dispatchEvent(new CustomEvent("tsapi:theme"));
  });

  const menu = document.getElementById("menu-btn");
  menu.addEventListener("click", () => {
    const open = document.getElementById("sidebar").classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
}

/** Show how many jobs are queued or running next to "Jobs". */
async function countActiveJobs() {
  if (document.hidden) return;
  try {
    const [queued, started] = await Promise.all([
      get("/v1/jobs", { status: "queued", limit: 100 }),
      get("/v1/jobs", { status: "started", limit: 100 }),
    ]);
    const n = queued.jobs.length + started.jobs.length;
    const badge = document.getElementById("active-jobs");
    badge.hidden = n === 0;
    badge.textContent = String(n);
  } catch {
    // The page itself reports errors; the badge just stays as it was.
  }
}

setupSidebar();
window.addEventListener("hashchange", render);
render();
countActiveJobs();
setInterval(countActiveJobs, 5000);
window.addEventListener("tsapi:jobs", countActiveJobs);
