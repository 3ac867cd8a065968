// Administration pages: forms that write through the JSON API.
//
// A form with data-api-method / data-api-url is sent as JSON (api.js: session cookie +
// X-CSRF-Token). Field names are dotted paths into the body ("settings.wrap_up"); data-type
// converts the text (int, float, nint, nfloat, bool, nstr, json, hours, daylines, levels,
// multi, int-or-empty); data-path-only fields fill "{name}" in the URL instead of the body.
// Lists of objects: a [data-list="roles"] container with [data-item] rows.
// On success: data-then="reload" | "go:/path/{field-of-the-answer}", or data-done (a message).
// Problem details are shown next to the field they name (errors[].field), else on the form.
// A form with data-go="/path/{field}" just navigates (no API call).

import { api, ApiError } from "/static/js/api.js";

const STR = (() => {
  const el = document.getElementById("page-strings");
  try {
    return el ? JSON.parse(el.textContent || "{}") : {};
  } catch {
    return {};
  }
})();
export const t = (key) => STR[key] || key;

export class FieldError extends Error {
  constructor(field, reason) {
    super(reason);
    this.field = field;
  }
}

function elementsOf(form) {
  return Array.from(form.elements).filter((el) => el.name && !el.disabled && el.type !== "submit");
}

function convert(el) {
  const type = el.dataset.type || "str";
  const raw = el.type === "checkbox" ? null : el.value;
  const text = raw === null ? "" : raw.trim();
  switch (type) {
    case "bool":
      return el.type === "checkbox" ? el.checked : raw === "true";
    case "int":
    case "nint":
      return text === "" ? null : Number.parseInt(text, 10);
    case "float":
    case "nfloat":
      return text === "" ? null : Number(text);
    case "int-or-empty":
      return text === "" ? "" : Number.parseInt(text, 10);
    case "nstr":
      return text === "" ? null : text;
    case "json":
      if (text === "") return null;
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new FieldError(el.name, `${t("adm_invalid_json")}: ${err.message}`);
      }
    case "hours": // "08:30-12:00, 13:30-17:30" → [["08:30","12:00"],["13:30","17:30"]]
      return text
        .split(/[,，;]/)
        .map((p) => p.trim())
        .filter(Boolean)
        .map((p) => p.split(/\s*[-–~]\s*/));
    case "daylines": {
      // "2026-10-01 国庆节" → {date, name}; "2026-10-10 fri" → {date, as}
      const extra = el.dataset.extra || "name";
      return text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => {
          const [date, ...rest] = l.split(/\s+/);
          const item = { date };
          if (rest.length) item[extra] = rest.join(" ");
          return item;
        });
    }
    case "levels": {
      // "billing 4\nfault 2" → {billing: 4, fault: 2}
      const out = {};
      for (const line of text.split("\n")) {
        const l = line.trim();
        if (!l) continue;
        const m = l.match(/^(\S+)\s*[:=\s]\s*(-?\d+)$/);
        if (!m) throw new FieldError(el.name, l);
        out[m[1]] = Number.parseInt(m[2], 10);
      }
      return out;
    }
    default:
      return raw;
  }
}

function setPath(obj, path, value) {
  const parts = path.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== "object" || cur[p] === null) cur[p] = {};
    cur = cur[p];
  }
  cur[parts.at(-1)] = value;
}

/** The JSON body of a form and the values of its path-only fields. */
export function collect(form) {
  const body = {};
  const pathValues = {};
  const lists = new Map();
  for (const el of elementsOf(form)) {
    const item = el.closest("[data-item]");
    const list = item ? item.closest("[data-list]") : null;
    if (el.dataset.type === "multi") {
      if (!(el.name in body)) setPath(body, el.name, []);
      if (el.checked) body[el.name].push(el.value);
      continue;
    }
    const value = convert(el);
    if (el.dataset.pathOnly !== undefined) {
      pathValues[el.name] = value;
      continue;
    }
    if (value === null && el.dataset.omitEmpty !== undefined) continue;
    if (list) {
      if (!lists.has(list)) lists.set(list, new Map());
      const rows = lists.get(list);
      if (!rows.has(item)) rows.set(item, {});
      rows.get(item)[el.name] = value;
      continue;
    }
    setPath(body, el.name, value);
  }
  for (const list of form.querySelectorAll("[data-list]")) {
    const rows = lists.get(list);
    setPath(body, list.dataset.list, rows ? Array.from(rows.values()) : []);
  }
  return { body, pathValues };
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(values[k] ?? ""));
}

// -- showing problems next to fields ----------------------------------------------------------

function statusOf(form) {
  return (
    form.querySelector(".form-status") ||
    (form.id && document.querySelector(`.form-status[data-for="${CSS.escape(form.id)}"]`))
  );
}

export function clearErrors(form) {
  for (const el of document.querySelectorAll(`[data-error-of="${CSS.escape(form.id || "")}"]`)) el.remove();
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of elementsOf(form)) {
    el.removeAttribute("aria-invalid");
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** The element a problem's field names: exact name, a list item, or the nearest parent path. */
function target(form, field) {
  if (!field) return null;
  let parts = field.replace(/\[(\d+)\]/g, ".$1").split(".");
  const els = elementsOf(form);
  while (parts.length) {
    const name = parts.join(".");
    const el = els.find((e) => e.name === name) || form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (el) return el;
    // roles.0.role → the role select of the first grant row
    const m = name.match(/^(.*)\.(\d+)\.(\w+)$/);
    if (m) {
      const list = form.querySelector(`[data-list="${CSS.escape(m[1])}"]`);
      const row = list ? list.querySelectorAll("[data-item]")[Number(m[2])] : null;
      const el2 = row ? row.querySelector(`[name="${CSS.escape(m[3])}"]`) : null;
      if (el2) return el2;
    }
    parts = parts.slice(0, -1);
    // a path-only field named like the URL's placeholder (e.g. "number", "name", "code")
  }
  return null;
}

function showAt(form, el, text) {
  const p = document.createElement("p");
  p.className = "field-error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  if (form.id) p.dataset.errorOf = form.id;
  const id = `err-${Math.random().toString(36).slice(2, 9)}`;
  p.id = id;
  if (el) {
    el.setAttribute("aria-invalid", "true");
    if (el.matches("input, select, textarea")) {
      const before = el.getAttribute("aria-describedby");
      el.setAttribute("aria-describedby", before ? `${before} ${id}` : id);
    }
    const anchor = el.closest(".field, td, [data-item], fieldset") || el;
    if (anchor.tagName === "FIELDSET") anchor.append(p);
    else anchor.append(p);
  } else {
    const status = statusOf(form);
    if (status) status.after(p);
    else form.append(p);
  }
  return p;
}

export function showProblem(form, err) {
  clearErrors(form);
  if (err instanceof FieldError) {
    showAt(form, target(form, err.field), err.message);
    return;
  }
  const errors = err instanceof ApiError && err.errors.length ? err.errors : [{ field: null, reason: err.detail || String(err) }];
  let first = null;
  const unplaced = [];
  for (const e of errors) {
    const el = target(form, e.field);
    const where = e.line ? ` (${t("adm_line")} ${e.line}${e.column ? `, ${t("adm_column")} ${e.column}` : ""})` : "";
    if (el) {
      showAt(form, el, `${e.reason}${where}`);
      first = first || el;
    } else {
      unplaced.push(e.field ? `${e.field}: ${e.reason}` : e.reason);
    }
  }
  if (unplaced.length || !first) {
    const detail = err instanceof ApiError ? err.detail : String(err);
    showAt(form, null, unplaced.length && first ? unplaced.join("; ") : detail || unplaced.join("; "));
  }
  if (first && typeof first.focus === "function") first.focus();
}

function setStatus(form, text) {
  const s = statusOf(form);
  if (s) s.textContent = text;
}

async function submit(form) {
  clearErrors(form);
  if (form.dataset.confirm && !window.confirm(t(form.dataset.confirm))) return;
  let collected;
  try {
    collected = collect(form);
  } catch (err) {
    showProblem(form, err);
    return;
  }
  const url = fill(form.dataset.apiUrl, collected.pathValues);
  setStatus(form, t("adm_saving"));
  const buttons = Array.from(form.querySelectorAll("button[type=submit]"));
  if (form.id) buttons.push(...document.querySelectorAll(`button[type=submit][form="${CSS.escape(form.id)}"]`));
  for (const b of buttons) b.disabled = true;
  try {
    const method = form.dataset.apiMethod;
    const answer = await api(method, url, collected.body, { quiet: true });
    setStatus(form, t(form.dataset.done || "adm_saved"));
    if (form.dataset.reset !== undefined) form.reset();
    const then = form.dataset.then || "";
    if (then === "reload") window.location.reload();
    else if (then.startsWith("go:")) window.location.assign(fill(then.slice(3), { ...collected.pathValues, ...(answer || {}) }));
  } catch (err) {
    setStatus(form, "");
    showProblem(form, err);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function addItem(button) {
  const fs = button.closest("[data-list]");
  const tpl = fs.querySelector("template.item-template");
  const rows = fs.querySelector(".grant-rows") || fs;
  const node = tpl.content.firstElementChild.cloneNode(true);
  rows.append(node);
  const first = node.querySelector("select, input");
  if (first) first.focus();
}

function localTimes(root = document) {
  const lang = document.documentElement.lang || undefined;
  const fmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
  for (const el of root.querySelectorAll("time.local-time")) {
    const iso = el.getAttribute("datetime");
    if (!iso) continue;
    const d = new Date(iso);
    if (!Number.isNaN(d.getTime())) el.textContent = fmt.format(d);
  }
}

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.dataset.go) {
    ev.preventDefault();
    const values = {};
    for (const el of elementsOf(form)) values[el.name] = el.value.trim();
    window.location.assign(fill(form.dataset.go, values));
    return;
  }
  if (!form.dataset.apiUrl) return;
  ev.preventDefault();
  submit(form);
});

document.addEventListener("click", (ev) => {
  const el = ev.target instanceof Element ? ev.target : null;
  if (!el) return;
  const add = el.closest("[data-add-item]");
  if (add) addItem(add);
  const rm = el.closest("[data-remove-item]");
  if (rm) rm.closest("[data-item]").remove();
});

document.body.addEventListener("htmx:afterSettle", () => localTimes());

localTimes();
