// The desk's "new work order" panel (templates/tickets_desk.html) inside the call screen.
//
// desk.js calls deskTickets(env, callId, call) for every event about the agent's call: the panel
// remembers the call (its id and caller number) and pre-fills the form. The customer comes from
// the customer panel (customer-panel.js marks the chosen one as #cust[data-selected]): the panel
// reads the record (GET /api/v1/customers/{id}) for its name, account and address, and lists the
// customer's open orders (GET /api/v1/customers/{account}/tickets?open=true) with an "urge"
// button each, so the agent urges the open order instead of creating a duplicate.
//
// The type picker renders the type's form (GET /api/v1/tickets/types); a 422 puts each error next
// to its field. After POST /api/v1/tickets the new number is announced and kept for the call's
// summary: ticketNotes(callId) gives the lines desk.js puts into the wrap-up notes.

import { api, ApiError, showError } from "/static/js/api.js";

const T = JSON.parse(document.getElementById("page-strings").textContent);
const CFG = JSON.parse(document.getElementById("desk-config").textContent);
const $ = (id) => document.getElementById(id);
const ROOT = $("tkd");

const D = {
  callId: "",
  caller: "",
  customerId: null,
  customer: null, // CustomerOut
  types: [], // ticket types (code, label, fields, subtypes, urgencies, default_urgency)
  open: [], // the customer's open orders
  created: new Map(), // call id -> [{number, type}]
  seq: 0,
};

function fmt(key, vars = {}) {
  let text = T[key] || key;
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== "") node.append(c);
  return node;
}

export const typeLabel = (code, fallback = "") => T[`tk_type_${code}`] || fallback || code;
const stateLabel = (s, fallback = "") => T[`tk_state_${s}`] || fallback || s;
const fieldLabel = (f) => T[`tk_f_${f.name}`] || f.label || f.name;
const choiceLabel = (v) => T[`tk_c_${v}`] || v;
const subLabel = (s) => T[`tk_sub_${s.code}`] || s.label || s.code;
const urgLabel = (u) => T[`tk_urg_${u.code}`] || u.label || u.code;

// -- types -----------------------------------------------------------------------------------------

/** The tenant's active ticket types (GET /api/v1/tickets/types: {code, label, active, doc}). */
async function loadTypes() {
  try {
    const items = await api("GET", "/api/v1/tickets/types", undefined, { quiet: true });
    const out = [];
    for (const x of Array.isArray(items) ? items : []) {
      if (x.active === false || out.some((t) => t.code === x.code)) continue;
      out.push({ ...(x.doc || x), code: x.code, label: x.label });
    }
    return out;
  } catch {
    return [];
  }
}

function currentType() {
  return D.types.find((t) => t.code === $("tkd-type").value) || null;
}

function renderTypes() {
  const sel = $("tkd-type");
  const keep = sel.value;
  sel.replaceChildren(...D.types.map((t) => el("option", { value: t.code, text: typeLabel(t.code, t.label) })));
  if (keep && D.types.some((t) => t.code === keep)) sel.value = keep;
  typeChanged();
}

function typeChanged() {
  const t = currentType();
  const subs = (t && t.subtypes) || [];
  $("tkd-subtype-field").hidden = subs.length === 0;
  $("tkd-subtype").replaceChildren(
    el("option", { value: "", text: T.tk_choose }),
    ...subs.map((s) => el("option", { value: s.code, text: subLabel(s) })),
  );
  const urgencies = (t && t.urgencies) || [{ code: "normal" }, { code: "urgent" }, { code: "critical" }];
  $("tkd-urgency").replaceChildren(...urgencies.map((u) => el("option", { value: u.code, text: urgLabel(u) })));
  $("tkd-urgency").value = (t && t.default_urgency) || urgencies[0].code;
  renderFields();
}

/** The inputs of the current type's form (those of the chosen subtype), keeping typed values. */
function renderFields() {
  const t = currentType();
  const box = $("tkd-fields");
  const old = values();
  const subtype = $("tkd-subtype").value;
  const fields = ((t && t.fields) || []).filter((f) => !(f.subtypes || []).length || f.subtypes.includes(subtype));
  const names = new Set(fields.map((f) => f.name));
  // subject and description: the form's own field when the type has one, else the order's
  $("tkd-subject-field").hidden = names.has("subject");
  $("tkd-description-field").hidden = names.has("description");
  box.replaceChildren(...fields.map(fieldInput));
  for (const [name, v] of Object.entries(old)) {
    const input = box.querySelector(`[data-field="${name}"]`);
    if (input && v !== "") input.value = v;
  }
  prefill();
}

function fieldInput(f) {
  const id = `tkd-f-${f.name}`;
  const err = `tkd-e-f-${f.name}`;
  const props = { id, name: f.name, "data-field": f.name, "aria-describedby": err };
  let input;
  if (f.kind === "choice") {
    input = el(
      "select",
      props,
      el("option", { value: "", text: T.tk_choose }),
      ...(f.choices || []).map((c) => el("option", { value: c, text: choiceLabel(c) })),
    );
  } else if (f.kind === "text" && (f.name === "description" || (f.max_length || 0) > 500)) {
    input = el("textarea", { ...props, rows: 3, maxLength: f.max_length || 4000 });
  } else {
    const type = { number: "number", date: "date", phone: "tel" }[f.kind] || "text";
    input = el("input", { ...props, type, autocomplete: "off" });
    if (f.kind === "text") input.maxLength = f.max_length || 2000;
    if (f.kind === "number") {
      input.step = "any";
      if (f.minimum !== null && f.minimum !== undefined) input.min = String(f.minimum);
      if (f.maximum !== null && f.maximum !== undefined) input.max = String(f.maximum);
    }
  }
  if (f.required) {
    input.required = true;
    input.setAttribute("aria-required", "true");
  }
  const label = el("label", { for: id, text: fieldLabel(f) });
  if (f.required) label.append(" ", el("span", { class: "req", "aria-hidden": "true", text: "*" }));
  const wide = f.name === "description" || f.name === "address";
  return el("div", { class: wide ? "field span2" : "field" }, label, input, el("p", { id: err, class: "field-error", hidden: true }));
}

/** The form's field values by name (text as typed). */
function values() {
  const out = {};
  for (const input of $("tkd-fields").querySelectorAll("[data-field]")) out[input.dataset.field] = input.value.trim();
  return out;
}

// -- pre-filling ----------------------------------------------------------------------------------

function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** What the call and the customer tell: field name -> value. */
function known() {
  const c = D.customer;
  const k = {
    contact_phone: D.caller,
    calling_number: D.caller,
    intake_date: today(),
    receiving_agent: CFG.name || CFG.username,
    channel: "phone",
  };
  if (c) {
    k.customer_name = c.name;
    k.account_no = c.account_no;
    if (c.private && c.address) k.address = c.address;
    if (!k.contact_phone && c.private && c.phone) k.contact_phone = c.phone;
  }
  return k;
}

/** Fill the empty inputs (and those filled by an earlier pre-fill) from the call and customer. */
function prefill() {
  const k = known();
  let any = false;
  for (const input of $("tkd-fields").querySelectorAll("[data-field]")) {
    const v = k[input.dataset.field];
    if (v === undefined || v === null || v === "") continue;
    if (input.value && input.dataset.prefilled !== input.value) continue; // typed by the agent
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === v)) continue;
    input.value = v;
    input.dataset.prefilled = v;
    any = true;
  }
  const who = D.customer ? `${D.customer.name} · ${T.tk_f_account_no} ${D.customer.account_no}` : T.tk_no_customer;
  $("tkd-customer").textContent = any && D.customer ? `${who} — ${T.tk_prefilled}` : who;
}

async function customerChanged(id) {
  const n = id ? Number(id) : null;
  if (n === D.customerId) return;
  D.customerId = n;
  D.customer = null;
  D.open = [];
  const seq = ++D.seq;
  renderOpen();
  prefill();
  if (!n) return;
  const q = D.callId ? `?call_id=${encodeURIComponent(D.callId)}` : "";
  try {
    const c = await api("GET", `/api/v1/customers/${n}${q}`, undefined, { quiet: true });
    if (seq !== D.seq) return;
    D.customer = c;
    prefill();
    await loadOpen();
  } catch {
    /* the customer panel shows the problem */
  }
}

// -- the customer's open orders (urge instead of a duplicate) --------------------------------------

async function loadOpen() {
  const c = D.customer;
  if (!c) return;
  const seq = D.seq;
  try {
    const page = await api("GET", `/api/v1/customers/${encodeURIComponent(c.account_no)}/tickets?open=true&limit=20`, undefined, {
      quiet: true,
    });
    if (seq !== D.seq) return;
    D.open = page.items || [];
  } catch {
    D.open = [];
  }
  renderOpen();
}

function renderOpen() {
  const box = $("tkd-open");
  box.hidden = !D.customer;
  if (!D.customer) return;
  const list = $("tkd-open-list");
  if (!D.open.length) {
    list.replaceChildren(el("li", { class: "muted", text: T.tk_no_open_orders }));
    return;
  }
  list.replaceChildren(
    ...D.open.map((o) => {
      const button = el("button", {
        type: "button",
        class: "warn small",
        text: T.tk_act_urge,
        "data-urge": o.number,
        "aria-label": `${T.tk_act_urge} ${o.number}`,
      });
      button.disabled = !(o.allowed || []).includes("urge");
      button.addEventListener("click", () => urge(o, button));
      const info = el(
        "span",
        { class: "tkd-open-info" },
        el("b", { text: o.number }),
        ` ${typeLabel(o.type, o.type_label)} · ${stateLabel(o.state, o.state_label)} · ${o.subject}`,
        o.urges ? el("span", { class: "tk-badge urged", text: fmt("tk_urged_n", { n: o.urges }) }) : "",
        o.overdue ? el("span", { class: "tk-badge overdue", text: T.tk_overdue_mark }) : "",
      );
      return el("li", { "data-number": o.number }, info, button);
    }),
  );
}

async function urge(o, button) {
  button.disabled = true;
  try {
    const note = D.callId ? `${T.tk_act_urge} (${D.caller || D.callId})` : "";
    const doc = await api("POST", `/api/v1/tickets/${o.id}/actions`, { action: "urge", version: o.version, note });
    $("tkd-result").textContent = fmt("tk_urge_done", { number: doc.number, n: doc.urges });
    remember({ number: doc.number, type: doc.type, type_label: doc.type_label, urged: true });
    await loadOpen();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) await loadOpen();
    button.disabled = false;
  }
}

// -- creating --------------------------------------------------------------------------------------

function clearErrors() {
  for (const p of ROOT.querySelectorAll(".field-error")) {
    p.hidden = true;
    p.textContent = "";
  }
  for (const i of ROOT.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

/** Put a problem next to the input it names ("fields.address", "address", "subject" …). */
function fieldError(field, reason) {
  const name = String(field || "").replace(/^(body\.)?(fields\.)?/, "");
  const input = $("tkd-fields").querySelector(`[data-field="${name}"]`) || $("tkd-form").querySelector(`[data-field="${name}"]`);
  if (!input) return false;
  const p = $(input.getAttribute("aria-describedby"));
  if (!p) return false;
  input.setAttribute("aria-invalid", "true");
  p.textContent = reason;
  p.hidden = false;
  return input;
}

function showProblems(errors, detail) {
  let first = null;
  const rest = [];
  for (const e of errors) {
    const input = fieldError(e.field, e.reason);
    if (input && !first) first = input;
    if (!input) rest.push(e.field ? `${e.field}: ${e.reason}` : e.reason);
  }
  const box = $("tkd-form-error");
  box.textContent = [T.tk_invalid, ...rest].join(" ");
  if (!first && !rest.length) box.textContent = detail;
  box.hidden = false;
  if (first) first.focus();
}

/** Client-side check of the required inputs (the server checks everything again). */
function checkRequired() {
  const problems = [];
  for (const input of ROOT.querySelectorAll("#tkd-form [required]")) {
    if (input.closest("[hidden]")) continue;
    if (!input.value.trim()) {
      const label = ROOT.querySelector(`label[for="${input.id}"]`);
      const name = label ? label.firstChild.textContent.trim() : input.name;
      problems.push({ field: input.dataset.field || input.name, reason: fmt("tk_required", { label: name }) });
    }
  }
  const t = currentType();
  if (t && (t.subtypes || []).length && !$("tkd-subtype").value) problems.push({ field: "subtype", reason: fmt("tk_required", { label: T.tk_subtype }) });
  return problems;
}

function body() {
  const t = currentType();
  const raw = values();
  const fields = {};
  for (const [k, v] of Object.entries(raw)) if (v !== "") fields[k] = v;
  const names = new Set(((t && t.fields) || []).map((f) => f.name));
  const subject = names.has("subject") ? raw.subject : $("tkd-subject").value.trim();
  const description = names.has("description") ? raw.description : $("tkd-description").value.trim();
  const b = {
    type: t ? t.code : $("tkd-type").value,
    subtype: $("tkd-subtype").value || "",
    urgency: $("tkd-urgency").value || null,
    channel: "phone",
    subject: subject || "",
    description: description || "",
    fields,
    dispatch: true,
  };
  if (D.callId) b.call_id = D.callId;
  if (D.customerId) b.customer = D.customerId;
  if (raw.customer_name) b.contact_name = raw.customer_name;
  if (raw.contact_phone) b.contact_phone = raw.contact_phone;
  if (raw.address) b.address = raw.address;
  if (["urban", "rural", "remote"].includes(raw.area)) b.area_class = raw.area;
  if (raw.business_category) b.category = raw.business_category;
  return b;
}

async function create(ev) {
  ev.preventDefault();
  clearErrors();
  const problems = checkRequired();
  if (problems.length) {
    showProblems(problems, T.tk_invalid);
    return;
  }
  const button = $("tkd-create");
  button.disabled = true;
  $("tkd-result").textContent = T.tk_creating;
  try {
    const doc = await api("POST", "/api/v1/tickets", body(), { quiet: true });
    $("tkd-result").textContent = fmt("tk_created", { number: doc.number });
    $("tkd-result").dataset.number = doc.number;
    remember({ number: doc.number, type: doc.type, type_label: doc.type_label });
    resetForm();
    loadOpen();
  } catch (err) {
    $("tkd-result").textContent = "";
    if (err instanceof ApiError && err.status === 422) showProblems(err.errors.length ? err.errors : [{ field: "", reason: err.detail }], err.detail);
    else showError(err);
  } finally {
    button.disabled = false;
  }
}

function resetForm() {
  for (const input of ROOT.querySelectorAll("#tkd-form input, #tkd-form textarea")) {
    input.value = "";
    delete input.dataset.prefilled;
  }
  for (const s of $("tkd-fields").querySelectorAll("select")) {
    s.value = "";
    delete s.dataset.prefilled;
  }
  prefill();
}

/** Keep the order for the call's summary (wrap-up notes) and list it under the panel. */
function remember(item) {
  const key = D.callId || "";
  const list = D.created.get(key) || [];
  if (!list.some((x) => x.number === item.number && Boolean(x.urged) === Boolean(item.urged))) list.push(item);
  D.created.set(key, list);
  renderCallOrders();
  // the wrap-up form is open for this call: add the line to its notes now
  const form = document.getElementById("wrapup-form");
  const notes = document.getElementById("wrapup-notes");
  const callOfForm = (document.getElementById("wrapup-call") || {}).textContent || "";
  if (form && notes && !form.hidden && key && callOfForm === key) {
    const line = summaryLine(item);
    if (!notes.value.includes(item.number)) notes.value = notes.value ? `${notes.value}\n${line}` : line;
  }
}

function summaryLine(item) {
  const line = fmt("tk_summary_line", { number: item.number, type: typeLabel(item.type, item.type_label) });
  return item.urged ? `${T.tk_act_urged} ${line}` : line;
}

function renderCallOrders() {
  const list = D.created.get(D.callId || "") || [];
  $("tkd-call-orders").hidden = list.length === 0;
  $("tkd-call-list").replaceChildren(...list.map((x) => el("li", { "data-number": x.number, text: summaryLine(x) })));
}

/** The lines for the call's summary (desk.js puts them into the wrap-up notes). */
export function ticketNotes(callId) {
  if (!ROOT) return "";
  return (D.created.get(callId || "") || []).map(summaryLine).join("\n");
}

// -- events from the desk --------------------------------------------------------------------------

/** Called by desk.js for every event about the agent's call (the call id, the desk's call state). */
export function deskTickets(env, callId, call) {
  if (!ROOT || !callId) return;
  if (["call_ringing", "call_answered", "connect", "offer"].includes(env.type) && D.callId !== callId) {
    // a new call: forget the last one's customer and what was typed for it (the customer panel
    // names this call's customer when its pop arrives)
    D.callId = callId;
    D.caller = "";
    D.customerId = null;
    D.customer = null;
    D.open = [];
    D.seq++;
    clearErrors();
    resetForm();
    renderOpen();
    $("tkd-result").textContent = "";
    delete $("tkd-result").dataset.number;
    renderCallOrders();
  }
  const caller = (call && call.id === callId && call.caller) || (env.data && env.data.caller) || "";
  if (D.callId === callId && caller && caller !== D.caller) {
    D.caller = caller;
    prefill();
  }
}

function toggle() {
  const open = $("tkd-body").hidden;
  $("tkd-body").hidden = !open;
  $("tkd-toggle").setAttribute("aria-expanded", String(open));
  $("tkd-toggle").textContent = open ? T.tk_new_close : T.tk_new_open;
  if (open) {
    prefill();
    $("tkd-type").focus();
  }
}

async function start() {
  if (!ROOT) return;
  $("tkd-toggle").addEventListener("click", toggle);
  $("tkd-type").addEventListener("change", typeChanged);
  $("tkd-subtype").addEventListener("change", renderFields);
  $("tkd-form").addEventListener("submit", create);
  const cust = document.getElementById("cust");
  if (cust) {
    new MutationObserver(() => customerChanged(cust.dataset.selected || null)).observe(cust, {
      attributes: true,
      attributeFilter: ["data-selected"],
    });
  }
  D.types = await loadTypes();
  renderTypes();
  ROOT.dataset.ready = "1";
}

start();
