// The admin page's entry point: the session token, the tabs, and a hash router.

import { ApiError, takeTokenFromUrl } from "./api.js";
import { renderCase, renderCases } from "./cases.js";
import { renderDashboard } from "./dashboard.js";
import { banner, h, replace } from "./dom.js";
import { renderSettings } from "./settings.js";

const view = document.getElementById("view");

async function route() {
  const [path, query = ""] = (window.location.hash.slice(1) || "/dashboard").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  const tab = parts[0] || "dashboard";
  for (const link of document.querySelectorAll("[data-tab]")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.dataset.view = parts.length > 1 ? "case" : tab;
  try {
    if (tab === "cases" && parts[1]) await renderCase(view, decodeURIComponent(parts[1]));
    else if (tab === "cases") await renderCases(view, params);
    else if (tab === "settings") await renderSettings(view);
    else await renderDashboard(view, params);
    view.dataset.ready = "true";
  } catch (error) {
    const message = error instanceof ApiError ? error.message : String(error);
    replace(view, banner("critical", h("strong", {}, "Recoup could not load this page. "), message));
    view.dataset.ready = "error";
  }
}

takeTokenFromUrl();
window.addEventListener("hashchange", () => { view.dataset.ready = "false"; route(); });
route();
