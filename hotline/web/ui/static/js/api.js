// fetch() for the Hotline API from a signed-in page: JSON in and out, the CSRF token from
// <meta name="csrf-token"> as X-CSRF-Token on unsafe methods, RFC 7807 problem documents turned
// into ApiError and shown to the user (their `detail`, and the field of each error).
//
//   import { api, act, showError } from "/static/js/api.js";
//   const agents = await api("GET", "/api/v1/agents");        // throws ApiError (already shown)
//   const doc = await act("POST", `/api/v1/calls/${id}/hold`); // null on error (already shown)
//   api("POST", url, body, { quiet: true })                    // throws, shows nothing

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

function pageStrings() {
  const el = document.getElementById("page-strings");
  if (!el) return {};
  try {
    return JSON.parse(el.textContent || "{}");
  } catch {
    return {};
  }
}

const STR = {
  api_net_error: "The server cannot be reached; check the connection and try again.",
  api_dismiss: "Dismiss",
  api_error_title: "Error",
  ...pageStrings(),
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

/** One API request; resolves to the JSON body (or null for 204), throws ApiError. */
export async function api(method, path, body = undefined, { quiet = false, signal } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  const init = { method, headers, credentials: "same-origin", signal };
  if (!SAFE.has(method)) headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    const e = new ApiError(0, { title: STR.api_error_title, detail: STR.api_net_error });
    if (!quiet) showError(e);
    throw e;
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  let data = null;
  if (type.includes("json")) {
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
  } else {
    const text = await resp.text();
    data = text ? { detail: text } : null;
  }
  if (!resp.ok) {
    const e = new ApiError(resp.status, data || { title: resp.statusText, detail: `HTTP ${resp.status}` });
    if (!quiet) showError(e);
    throw e;
  }
  return data;
}

/** Like api() but resolves to null on an error (which is shown to the user). */
export async function act(method, path, body = undefined) {
  try {
    return await api(method, path, body);
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err);
    return null;
  }
}

function errorArea() {
  let el = document.getElementById("api-errors");
  if (!el) {
    el = document.createElement("div");
    el.id = "api-errors";
    el.className = "api-errors";
    el.setAttribute("aria-live", "assertive");
    document.body.append(el);
  }
  return el;
}

/** Show an error (ApiError or text) as a dismissable alert; it goes away after `ms`. */
export function showError(err, ms = 8000) {
  const area = errorArea();
  const box = document.createElement("div");
  box.className = "api-error";
  box.setAttribute("role", "alert");
  const msg = document.createElement("span");
  const detail = err instanceof ApiError ? err.detail || err.title : String(err);
  msg.textContent = detail;
  box.append(msg);
  if (err instanceof ApiError && err.errors.length > 1) {
    const list = document.createElement("ul");
    for (const e of err.errors) {
      const li = document.createElement("li");
      li.textContent = e.field ? `${e.field}: ${e.reason}` : e.reason;
      list.append(li);
    }
    box.append(list);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "api-error-close";
  close.setAttribute("aria-label", STR.api_dismiss);
  close.textContent = "×";
  close.addEventListener("click", () => box.remove());
  box.append(close);
  area.append(box);
  if (ms > 0) setTimeout(() => box.remove(), ms);
  return box;
}
