// Calls to the admin API with the session token (`shopify.idToken()`: App Bridge's inside the
// Shopify admin, the stand-in's from the link `recoup admin-url` prints elsewhere).
// A failed call resolves to an ApiProblem, never throws: each view shows it where it belongs
// (beside a field, in a banner), and nothing takes the whole page down.

export class ApiProblem {
  constructor(status, body) {
    this.status = status;
    this.error = body.error || "request_failed";
    this.message = body.message || `The request failed (${status}).`;
    this.field = body.field ?? null;
    this.body = body;
  }
}

export function failed(result) {
  return result instanceof ApiProblem;
}

async function sessionToken() {
  try {
    return await window.shopify.idToken();
  } catch {
    return null;
  }
}

async function call(method, path, body = undefined) {
  const token = await sessionToken();
  if (!token) {
    return new ApiProblem(401, {
      error: "missing_token",
      message: "Open Recoup from the Shopify admin (or locally with `recoup admin-url`).",
    });
  }
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/admin/api${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return new ApiProblem(0, { error: "network", message: "Recoup could not be reached. Check the connection and try again." });
  }
  const data = await response.json().catch(() => ({}));
  return response.ok ? data : new ApiProblem(response.status, data);
}

// Downloads a file the API answers (a CSV): fetched with the token, saved under its name.
async function download(path) {
  const token = await sessionToken();
  if (!token) return new ApiProblem(401, { error: "missing_token", message: "No session token." });
  let response;
  try {
    response = await fetch(`/admin/api${path}`, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    return new ApiProblem(0, { error: "network", message: "Recoup could not be reached." });
  }
  if (!response.ok) return new ApiProblem(response.status, await response.json().catch(() => ({})));
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || "recoup-export.csv";
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return true;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body = {}) => call("POST", path, body),
  put: (path, body = {}) => call("PUT", path, body),
  del: (path) => call("DELETE", path),
  download,
  failed,
};
