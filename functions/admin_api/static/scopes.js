// The optional access scopes the page asks Shopify for, through App Bridge's scopes API
// (`shopify.scopes`: `query()` answers {granted, required, optional}; `request([...])` opens
// Shopify's permission modal and answers {result: "granted-all" | "declined-all", detail}).
// Outside the Shopify admin the local stand-in (polaris-local.js) answers in its place.

export const WRITE_ORDERS = "write_orders"; // cancelling unpaid orders (services/auto_cancel.py)

let asked = null; // one query per page load, shared by every strategy that needs it

export function scopesApi() {
  return window.shopify && window.shopify.scopes ? window.shopify.scopes : null;
}

// The scopes granted now ({granted: [...], ...}), or null when they cannot be read.
export function grantedScopes({ fresh = false } = {}) {
  const api = scopesApi();
  if (!api) return Promise.resolve(null);
  if (!asked || fresh) asked = Promise.resolve().then(() => api.query()).catch(() => null);
  return asked;
}

// Asks the merchant for `scopes`: "granted", "declined", or "failed" (no answer).
export async function requestScopes(scopes) {
  const api = scopesApi();
  if (!api) return "failed";
  try {
    const answer = await api.request(scopes);
    asked = null; // the next look reads them again
    return answer && answer.result === "granted-all" ? "granted" : "declined";
  } catch {
    return "failed";
  }
}

export async function hasScope(scope) {
  const found = await grantedScopes();
  return found ? (found.granted || []).includes(scope) : null;
}
