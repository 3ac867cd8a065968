// Customer administration (/admin/customers): the customer forms (their list fields: phones one a
// line, tags separated by commas, further addresses "kind: text" one a line) and the import
// form (multipart upload; the report as tables of row errors and row outcomes).
//
// Forms with data-customer-form are sent as JSON through api.js with admin.js's collect();
// problems are shown next to the field they name (admin.js showProblem).

import { api, ApiError, csrfToken } from "/static/js/api.js";
import { collect, showProblem, clearErrors, t } from "/static/js/admin.js";

function lines(text) {
  return String(text || "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The JSON body of a customer form: admin.js's collect, then the list fields converted. */
export function customerBody(form) {
  const { body } = collect(form);
  for (const el of form.querySelectorAll("[data-type=lines], [data-type=commas], [data-type=addresses]")) {
    if (!el.name || el.disabled || !(el.name in body)) continue;
    const raw = body[el.name];
    if (el.dataset.type === "lines") body[el.name] = lines(raw);
    else if (el.dataset.type === "commas")
      body[el.name] = String(raw || "")
        .split(/[,，;；、]/)
        .map((s) => s.trim())
        .filter(Boolean);
    else
      body[el.name] = lines(raw).map((l) => {
        const m = l.match(/^(home|mailing|billing|work|other)\s*[:：]\s*(.+)$/);
        return m ? { kind: m[1], text: m[2] } : { kind: "other", text: l };
      });
  }
  if (form.dataset.method === "PATCH" && body.dedicated_agent_id === null) body.dedicated_agent_id = null;
  return body;
}

function status(form, text) {
  const s = form.querySelector(".form-status");
  if (s) s.textContent = text;
}

async function submitCustomer(form) {
  clearErrors(form);
  let body;
  try {
    body = customerBody(form);
  } catch (err) {
    showProblem(form, err);
    return;
  }
  const buttons = form.querySelectorAll("button[type=submit]");
  buttons.forEach((b) => (b.disabled = true));
  status(form, t("adm_saving"));
  try {
    const answer = await api(form.dataset.method, form.dataset.url, body, { quiet: true });
    let done = t(form.dataset.done || "adm_saved");
    if (form.id === "pin-form" && body.pin === null) done = t("adc_pin_removed");
    status(form, done);
    if (form.dataset.reset !== undefined) form.reset();
    const then = form.dataset.then || "";
    if (then === "reload") window.location.reload();
    else if (then.startsWith("go:")) window.location.assign(then.slice(3).replace("{id}", encodeURIComponent(answer.id)));
  } catch (err) {
    status(form, "");
    showProblem(form, err);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.append(td);
}

function fillTable(table, heads, rows) {
  const thead = table.querySelector("thead");
  const tbody = table.querySelector("tbody");
  thead.replaceChildren();
  tbody.replaceChildren();
  const hr = document.createElement("tr");
  for (const h of heads) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    hr.append(th);
  }
  thead.append(hr);
  for (const r of rows) {
    const tr = document.createElement("tr");
    r.forEach((v) => cell(tr, v));
    tbody.append(tr);
  }
  table.hidden = rows.length === 0;
}

export function showReport(section, rep) {
  section.hidden = false;
  const summary = section.querySelector(".import-summary");
  const key = rep.written ? "adc_import_done" : rep.dry_run ? "adc_import_dry_done" : "adc_import_nothing";
  summary.textContent = t(key)
    .replace("{total}", rep.total)
    .replace("{created}", rep.created)
    .replace("{updated}", rep.updated)
    .replace("{unchanged}", rep.unchanged)
    .replace("{rejected}", rep.rejected);
  fillTable(
    section.querySelector(".import-errors"),
    [t("adc_line"), t("adc_account"), t("adc_field"), t("adc_reason")],
    rep.errors.map((e) => [String(e.line), e.account_no, e.field, e.reason]),
  );
  fillTable(
    section.querySelector(".import-changes"),
    [t("adc_line"), t("adc_account"), t("adc_action"), t("adc_fields")],
    rep.changes.map((c) => [String(c.line), c.account_no, t(`adc_act_${c.action}`), c.fields.join(", ")]),
  );
}

async function submitImport(form) {
  clearErrors(form);
  const file = form.querySelector("input[type=file]").files[0];
  if (!file) {
    showProblem(form, new ApiError(422, { detail: t("adc_choose_file"), errors: [{ field: "file", reason: t("adc_choose_file") }] }));
    return;
  }
  const data = new FormData();
  data.append("file", file);
  data.append("dry_run", form.elements.dry_run.checked ? "true" : "false");
  data.append("strict", form.elements.strict.checked ? "true" : "false");
  if (form.elements.unit_default.value) data.append("unit_default", form.elements.unit_default.value);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  status(form, t("adc_import_running"));
  try {
    const resp = await fetch("/api/v1/customers/import", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json, application/problem+json" },
    });
    const doc = await resp.json().catch(() => ({ detail: `HTTP ${resp.status}` }));
    if (!resp.ok) throw new ApiError(resp.status, doc);
    status(form, "");
    showReport(document.getElementById("import-result"), doc);
  } catch (err) {
    status(form, "");
    showProblem(form, err);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.dataset.customerForm !== undefined) {
    ev.preventDefault();
    submitCustomer(form);
  } else if (form.dataset.importForm !== undefined) {
    ev.preventDefault();
    submitImport(form);
  }
});
