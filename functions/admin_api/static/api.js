// Calls to the admin API with the session token: App Bridge's inside the Shopify admin,
// else the one the page was opened with (`recoup admin-url`), kept in memory only.

let fragmentToken = null;

export function takeTokenFromUrl() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("id_token");
  if (token) {
    fragmentToken = token;
    // Out of the address bar and the history: the token lives in this page's memory only.
    history.replaceState(null, "", window.location.pathname + window.location.search + "#/dashboard");
  }
}

async function sessionToken() {
  if (window.shopify && typeof window.shopify.idToken === "function") {
    return await window.shopify.idToken();
  }
  if (fragmentToken) return fragmentToken;
  throw new ApiError(401, {
    error: "missing_token",
    message: "Open Recoup from the Shopify admin (or locally with `recoup admin-url`).",
  });
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `request failed (${status})`);
    this.status = status;
    this.code = body.error;
    this.field = body.field;
  }
}

export async function api(method, path, body = undefined) {
  const headers = { Authorization: `Bearer ${await sessionToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/admin/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
