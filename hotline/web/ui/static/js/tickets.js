// The work-order pages (/tickets/queue, /tickets/review, /tickets/overdue): a thin client of the
// tickets API (api.js) that follows the live `ticket` / `ticket_deadline` events (events.js).
//
// queue and review: a list (GET /api/v1/tickets with the view's filters, keyset "load more") and
// the chosen order's details (GET /api/v1/tickets/{id}: fields, deadlines, history and the
// actions the API allows this reader now). Action buttons are the allowed ones of the page's set;
// acknowledge / start / resume act at once, the others open a small form (note or reason,
// substantiated and attachments for a reply, the unit for a forward, satisfaction for a
// revisit). Every action sends the version read: a 409 reloads the order and says why.
//
// overdue: the open orders that are overdue or due within CFG.soon_minutes, counted per unit;
// a one-second tick moves an order from "due soon" to "overdue" when its time passes, and the
// events reload the lists (debounced), so the board follows the deadline scheduler live.
//
// The hub sends `ticket` / `ticket_deadline` events to readers with ticket.read over the order's
// unit (and its handler); the lists also reload once a minute as a safety net.

import { api, ApiError, showError } from "/static/js/api.js";
import { EventStream } from "/static/js/events.js";

const T = JSON.parse(document.getElementById("page-strings").textContent);
const CFG = JSON.parse(document.getElementById("tickets-config").textContent);
const LANG = CFG.lang;
const $ = (id) => document.getElementById(id);

// -- formatting ----------------------------------------------------------------------------------

const dateTimeFmt = new Intl.DateTimeFormat(LANG, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
const timeFmt = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

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

function when(iso) {
  if (!iso) return "";
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? String(iso) : dateTimeFmt.format(new Date(ms));
}

/** 90 → "1m 30s"-like text in the page's language (days/hours/minutes; seconds under an hour). */
function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const zh = LANG !== "en";
  const u = zh ? { d: "天", h: "小时", m: "分", s: "秒" } : { d: "d", h: "h", m: "m", s: "s" };
  const parts = [];
  if (d) parts.push(`${d}${u.d}`);
  if (h) parts.push(`${h}${u.h}`);
  if (!d && (m || h)) parts.push(`${m}${u.m}`);
  if (!d && !h) parts.push(`${sec}${u.s}`);
  return parts.join(zh ? "" : " ");
}

const typeLabel = (o) => T[`tk_type_${o.type}`] || o.type_label || o.type;
const stateLabel = (s, fallback = "") => T[`tk_state_${s}`] || fallback || s;
const actionLabel = (a) => T[`tk_act_${a}`] || a;
const fieldLabel = (name) => T[`tk_f_${name}`] || name;
const choiceLabel = (v) => (typeof v === "string" && T[`tk_c_${v}`]) || String(v);

function say(text) {
  const s = $("tk-status");
  if (s) s.textContent = text;
}

/** The due cell: "due in …", "overdue by …" (ticking), or a dash. */
function dueText(o, now = Date.now()) {
  if (!o.due_at) return o.overdue ? T.tk_overdue_mark : T.tk_no_due;
  const left = (Date.parse(o.due_at) - now) / 1000;
  return left >= 0 ? fmt("tk_due_in", { t: span(left) }) : fmt("tk_over_by", { t: span(-left) });
}

function isOverdue(o, now = Date.now()) {
  return Boolean(o.overdue) || (o.due_at && Date.parse(o.due_at) < now);
}

function badges(o) {
  const out = [];
  out.push(el("span", { class: `tk-state st-${o.state}`, text: stateLabel(o.state, o.state_label) }));
  if (isOverdue(o)) out.push(el("span", { class: "tk-badge overdue", text: T.tk_overdue_mark }));
  if (o.urges) out.push(el("span", { class: "tk-badge urged", text: fmt("tk_urged_n", { n: o.urges }) }));
  if (o.repeat_count) out.push(el("span", { class: "tk-badge repeat", text: fmt("tk_repeat_n", { n: o.repeat_count }) }));
  if (o.urgency && o.urgency !== "normal") out.push(el("span", { class: `tk-badge urg-${o.urgency}`, text: T[`tk_urg_${o.urgency}`] || o.urgency }));
  return out;
}

// -- queue and review: the list --------------------------------------------------------------------

/** The actions each page offers (shown when the API allows them). */
const PAGE_ACTIONS = {
  queue: ["acknowledge", "start", "hold", "resume", "reply", "forward"],
  review: ["review", "return", "revisit", "reopen", "archive"],
};
/** Actions carried out with one click (nothing to fill in). */
const DIRECT = new Set(["acknowledge", "start", "resume"]);
/** Actions whose note is required (the reply's result, the reason of a return). */
const NOTE_REQUIRED = { reply: "tk_reply_note", return: "tk_reason" };

const L = {
  items: [],
  next: null,
  selected: null, // the TicketOut shown (full read)
  action: null, // the action whose form is open
  uploads: [], // attachments uploaded for the open form: {id, filename}
  units: null, // GET /api/v1/units items (for forward)
  seq: 0,
};

function view() {
  const checked = document.querySelector("#tk-filters input[name=view]:checked");
  return checked ? checked.value : "";
}

function listQuery(after = null) {
  const p = new URLSearchParams({ limit: "50" });
  const v = view();
  if (CFG.page === "queue") {
    p.set("open", "true");
    if (v === "mine") p.set("handler", "me");
    if (v === "overdue") p.set("overdue", "true");
  } else if (v === "dissatisfied" || v === "revisited") {
    p.set("state", "revisited");
  } else {
    p.set("state", v || "replied");
  }
  const q = $("tk-q").value.trim();
  if (q) p.set("q", q);
  if (after) p.set("after", after);
  return p;
}

function keep(o) {
  const v = view();
  if (CFG.page === "review" && v === "dissatisfied") return o.satisfaction === "dissatisfied";
  if (CFG.page === "review" && v === "revisited") return o.satisfaction !== "dissatisfied";
  return true;
}

/** Load the list (``quiet``: a background reload after an action or an event, which keeps the
 * status line — it may be announcing the action's result). */
async function loadList({ more = false, quiet = false } = {}) {
  const seq = ++L.seq;
  if (!more && !quiet) say(T.tk_loading);
  try {
    const page = await api("GET", `/api/v1/tickets?${listQuery(more ? L.next : null)}`);
    if (seq !== L.seq) return;
    const items = (page.items || []).filter(keep);
    L.items = more ? [...L.items, ...items] : items;
    L.next = page.next || null;
    renderList();
    if (!quiet) say(fmt("tk_loaded", { n: L.items.length }));
  } catch {
    if (seq === L.seq && !quiet) say("");
  }
}

function renderList() {
  const body = $("tk-rows");
  body.replaceChildren(
    ...L.items.map((o) => {
      const open = el("button", { type: "button", class: "tk-link", text: o.number, "aria-label": `${T.tk_detail} ${o.number}` });
      open.addEventListener("click", () => select(o.id));
      const tr = el(
        "tr",
        { "data-id": String(o.id), "data-number": o.number, "data-state": o.state, class: isOverdue(o) ? "overdue" : "" },
        el("td", {}, open),
        el("td", { text: typeLabel(o) }),
        el("td", { class: "tk-subject", text: o.subject, title: o.subject }),
        el("td", {}, ...badges(o)),
        el("td", { class: "tk-due", "data-due": o.due_at || "", text: dueText(o) }),
      );
      if (L.selected && L.selected.id === o.id) tr.setAttribute("aria-current", "true");
      return tr;
    }),
  );
  $("tk-empty").hidden = L.items.length > 0;
  $("tk-more").hidden = !L.next;
}

// -- queue and review: the details ------------------------------------------------------------------

async function select(id) {
  try {
    const doc = await api("GET", `/api/v1/tickets/${id}`);
    showTicket(doc);
    $("tk-number").focus?.();
  } catch {
    /* shown by api.js */
  }
}

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", { text: label }), el("dd", { text: String(value) }));
  }
}

function showTicket(o) {
  const changed = !L.selected || L.selected.id !== o.id;
  L.selected = o;
  $("tk-detail-empty").hidden = true;
  $("tk-card").hidden = false;
  $("tk-card").dataset.id = String(o.id);
  $("tk-card").dataset.state = o.state;
  $("tk-card").dataset.version = String(o.version);
  $("tk-number").textContent = o.number;
  $("tk-number").tabIndex = -1;
  $("tk-badges").replaceChildren(...badges(o));
  const sub = o.subtype ? T[`tk_sub_${o.subtype}`] || o.subtype : "";
  kv($("tk-facts"), [
    [T.tk_col_type, sub ? `${typeLabel(o)} · ${sub}` : typeLabel(o)],
    [T.tk_col_subject, o.subject],
    [T.tk_f_description, o.description],
    [T.tk_col_unit, o.unit_name || o.unit],
    [T.tk_col_handler, o.handler],
    [T.tk_col_customer, [o.contact_name, o.account_no].filter(Boolean).join(" · ")],
    [T.tk_f_contact_phone, o.contact_phone],
    [T.tk_f_address, o.address],
    [T.tk_f_calling_number, o.caller_number],
    [T.tk_col_created, when(o.created_at)],
    [T.tk_col_due, o.due_at ? `${when(o.due_at)} (${dueText(o)})` : ""],
    [T.tk_col_satisfaction, o.satisfaction ? T[`tk_sat_${o.satisfaction}`] || o.satisfaction : ""],
  ]);
  const form = o.fields || {};
  kv(
    $("tk-form"),
    Object.entries(form)
      .filter(([k]) => !["subject", "description"].includes(k))
      .map(([k, v]) => [fieldLabel(k), choiceLabel(v)]),
  );
  renderDeadlines(o.deadlines || []);
  renderActions(o, changed);
  renderHistory(o.history || [], o.attachments || []);
  for (const tr of document.querySelectorAll("#tk-rows tr")) {
    if (tr.dataset.id === String(o.id)) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
  // keep the list row in step with what was read
  const i = L.items.findIndex((x) => x.id === o.id);
  if (i >= 0) {
    L.items[i] = { ...L.items[i], ...o };
    renderList();
  }
}

function renderDeadlines(steps) {
  const list = $("tk-deadlines");
  if (!steps.length) {
    list.replaceChildren(el("li", { class: "muted", text: T.tk_no_due }));
    return;
  }
  list.replaceChildren(
    ...steps.map((d) => {
      const name = T[`tk_step_${d.step}`] || d.step;
      let state;
      if (d.done_at) state = `${T.tk_step_done} ${when(d.done_at)}${d.overdue_seconds > 0 ? ` · ${fmt("tk_over_by", { t: span(d.overdue_seconds) })}` : ""}`;
      else if (d.paused) state = T.tk_step_paused;
      else state = `${when(d.due_at)} · ${dueText({ due_at: d.due_at })}`;
      const late = !d.done_at && d.due_at && Date.parse(d.due_at) < Date.now();
      return el("li", { "data-step": d.step, class: late || d.overdue_seconds > 0 ? "late" : "" }, el("b", { text: name }), ` ${state}`);
    }),
  );
}

/** A unit's name from its id or code (the units the reader may see; the order's own unit). */
function unitName(ref) {
  const u = (L.units || []).find((x) => String(x.id) === String(ref) || x.code === ref);
  if (u) return u.name;
  const o = L.selected;
  if (o && (String(o.unit_id) === String(ref) || o.unit === ref)) return o.unit_name || o.unit;
  return String(ref);
}

async function loadUnits() {
  if (L.units) return L.units;
  try {
    L.units = (await api("GET", "/api/v1/units?limit=1000", undefined, { quiet: true })).items || [];
  } catch {
    L.units = [];
  }
  return L.units;
}

function renderHistory(entries, attachments) {
  const files = new Map(attachments.map((a) => [a.id, a]));
  const list = $("tk-history");
  if (!entries.length) {
    list.replaceChildren(el("li", { class: "muted", text: T.tk_history_empty }));
    return;
  }
  list.replaceChildren(
    ...entries.map((h) => {
      const who = h.user_id === null && h.actor === "system" ? T.tk_by_system : h.actor;
      const head = el(
        "p",
        { class: "tk-h-head" },
        el("time", { dateTime: h.at, text: when(h.at) }),
        " ",
        el("b", { text: actionLabel(h.action) }),
        ` · ${who}`,
        h.from_state && h.from_state !== h.to_state ? ` · ${stateLabel(h.from_state)} → ${stateLabel(h.to_state)}` : "",
      );
      const data = h.data || {};
      const extra = [];
      if (data.satisfaction) extra.push(T[`tk_sat_${data.satisfaction}`] || data.satisfaction);
      if (data.comment && data.comment !== h.note) extra.push(data.comment);
      if (data.substantiated !== undefined) extra.push(`${T.tk_substantiated} ${data.substantiated ? T.tk_yes : T.tk_no}`);
      if (data.unit) extra.push(`→ ${unitName(data.unit)}`);
      if (data.waiting_for) extra.push(T[`tk_wait_${data.waiting_for}`] || data.waiting_for);
      const li = el("li", { "data-action": h.action }, head);
      if (h.note) li.append(el("p", { class: "tk-h-note", text: h.note }));
      if (extra.length) li.append(el("p", { class: "muted", text: extra.join(" · ") }));
      const att = (h.attachments || []).map((id) => files.get(id)).filter(Boolean);
      if (att.length) {
        li.append(
          el(
            "p",
            { class: "tk-h-files" },
            `${T.tk_attachments}: `,
            ...att.map((a) => el("a", { href: a.url || "#", text: a.filename, download: a.filename })),
          ),
        );
      }
      return li;
    }),
  );
}

function renderActions(o, changed) {
  const wanted = PAGE_ACTIONS[CFG.page] || [];
  const allowed = (o.allowed || []).filter((a) => wanted.includes(a));
  const box = $("tk-action-buttons");
  box.replaceChildren(
    ...allowed.map((a) => {
      const b = el("button", { type: "button", class: a === "return" || a === "reopen" ? "warn" : "", text: actionLabel(a), "data-action": a });
      if (!DIRECT.has(a)) b.setAttribute("aria-haspopup", "true");
      b.addEventListener("click", () => (DIRECT.has(a) ? act(a) : openForm(a)));
      return b;
    }),
  );
  $("tk-no-actions").hidden = allowed.length > 0;
  if (changed || (L.action && !allowed.includes(L.action))) closeForm();
}

function openForm(action) {
  L.action = action;
  L.uploads = [];
  const form = $("tk-action-form");
  form.hidden = false;
  form.dataset.action = action;
  $("tk-action-title").textContent = `${actionLabel(action)} · ${L.selected.number}`;
  for (const part of form.querySelectorAll("[data-for]")) part.hidden = part.dataset.for !== action;
  $("tk-note-label").textContent = T[NOTE_REQUIRED[action]] || T.tk_note;
  $("tk-note").required = Boolean(NOTE_REQUIRED[action]);
  $("tk-note").value = "";
  $("tk-comment").value = "";
  $("tk-files").value = "";
  $("tk-uploaded").replaceChildren();
  for (const r of form.querySelectorAll("input[name=satisfaction]")) r.checked = false;
  const unknown = form.querySelector("input[name=substantiated][value='']");
  if (unknown) unknown.checked = true;
  clearFormErrors();
  if (action === "forward") fillUnits();
  const first = form.querySelector(`[data-for="${action}"]:not([hidden]) input, [data-for="${action}"]:not([hidden]) select`) || $("tk-note");
  first.focus();
}

function closeForm() {
  L.action = null;
  $("tk-action-form").hidden = true;
}

function clearFormErrors() {
  for (const id of ["tk-note-error", "tk-comment-error", "tk-action-error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
  $("tk-note").removeAttribute("aria-invalid");
  $("tk-comment").removeAttribute("aria-invalid");
}

/** Show a problem next to the input it names (note, the revisit's comment) or under the form. */
function formError(field, reason) {
  const input = { note: "tk-note", "payload.comment": "tk-comment" }[field];
  if (input) {
    $(`${input}-error`).textContent = reason;
    $(`${input}-error`).hidden = false;
    $(input).setAttribute("aria-invalid", "true");
    $(input).focus();
  } else {
    $("tk-action-error").textContent = reason;
    $("tk-action-error").hidden = false;
  }
}

async function fillUnits() {
  const sel = $("tk-forward-unit");
  sel.replaceChildren();
  await loadUnits();
  const o = L.selected;
  const mine = L.units.find((u) => u.id === o.unit_id);
  const below = mine ? L.units.filter((u) => u.id !== mine.id && u.path.startsWith(mine.path)) : [];
  sel.append(...below.map((u) => el("option", { value: u.code, text: `${"· ".repeat(Math.max(0, u.depth - mine.depth - 1))}${u.name}` })));
  // a reader who sees no unit below (a unit-scope grant shows only its own unit) may type a code
  $("tk-forward-none").hidden = below.length > 0;
  $("tk-forward-code-box").hidden = below.length > 0;
  $("tk-forward-code").value = "";
  sel.hidden = below.length === 0;
}

async function uploadFiles() {
  const input = $("tk-files");
  const ids = [];
  for (const file of input.files || []) {
    say(fmt("tk_uploading", { name: file.name }));
    const data = new FormData();
    data.append("file", file, file.name);
    const meta = document.querySelector('meta[name="csrf-token"]');
    const resp = await fetch("/api/v1/tickets/attachments", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.content : "", Accept: "application/json" },
    });
    const doc = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiError(resp.status, { ...doc, detail: `${file.name}: ${doc.detail || resp.statusText}` });
    ids.push(doc.id);
    $("tk-uploaded").append(el("li", { text: doc.filename }));
  }
  return ids;
}

function payloadOf(action) {
  const form = $("tk-action-form");
  if (action === "forward") return { unit: $("tk-forward-unit").hidden ? $("tk-forward-code").value.trim() : $("tk-forward-unit").value };
  if (action === "hold") return { waiting_for: $("tk-waiting-for").value };
  if (action === "reply") {
    const v = form.querySelector("input[name=substantiated]:checked");
    return v && v.value !== "" ? { substantiated: v.value === "true" } : {};
  }
  if (action === "revisit") {
    const sat = form.querySelector("input[name=satisfaction]:checked");
    const p = { method: $("tk-method").value };
    if (sat) p.satisfaction = sat.value;
    const comment = $("tk-comment").value.trim();
    if (comment) p.comment = comment;
    return p;
  }
  return {};
}

async function submitForm(ev) {
  ev.preventDefault();
  const action = L.action;
  if (!action || !L.selected) return;
  clearFormErrors();
  const note = $("tk-note").value.trim();
  if (NOTE_REQUIRED[action] && !note) {
    formError("note", fmt("tk_required", { label: T[NOTE_REQUIRED[action]] }));
    return;
  }
  if (action === "revisit" && !$("tk-action-form").querySelector("input[name=satisfaction]:checked")) {
    formError("payload.satisfaction", fmt("tk_required", { label: T.tk_satisfaction }));
    return;
  }
  if (action === "forward" && !payloadOf("forward").unit) {
    formError("payload.unit", fmt("tk_required", { label: T.tk_forward_to }));
    return;
  }
  const go = $("tk-action-go");
  go.disabled = true;
  try {
    let attachments = [];
    if (action === "reply") {
      try {
        attachments = await uploadFiles();
      } catch (err) {
        formError("attachments", err.detail || String(err));
        return;
      }
    }
    await act(action, { note, payload: payloadOf(action), attachments });
  } finally {
    go.disabled = false;
  }
}

/** POST the action with the version read; on success show the answer, on 409 reload and explain. */
async function act(action, { note = "", payload = {}, attachments = [] } = {}) {
  const o = L.selected;
  if (!o) return;
  const body = { action, version: o.version, note, payload, attachments };
  try {
    const doc = await api("POST", `/api/v1/tickets/${o.id}/actions`, body, { quiet: true });
    closeForm();
    showTicket(doc);
    say(fmt("tk_done", { number: doc.number, action: actionLabel(action) }));
    scheduleList();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 409) {
      // the problem names the state and the allowed actions (refused) or the current version
      // (stale); the order read again says both, filtered by what this reader may do
      const fresh = await api("GET", `/api/v1/tickets/${o.id}`, undefined, { quiet: true }).catch(() => null);
      if (fresh) showTicket(fresh);
      const stale = !fresh || fresh.version !== o.version;
      const allowed = fresh ? (fresh.allowed || []).map(actionLabel).join("、") || "—" : "—";
      const msg = stale ? T.tk_stale : fmt("tk_refused", { allowed });
      say(msg);
      showError(new ApiError(409, { detail: `${msg} (${err.detail})` }));
    } else if (err.status === 422 && !$("tk-action-form").hidden) {
      for (const e of err.errors.length ? err.errors : [{ field: "", reason: err.detail }]) formError(e.field, e.reason);
    } else {
      showError(err);
    }
  }
}

let listTimer = 0;
function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => loadList({ quiet: true }), 400);
}

function tickList() {
  const now = Date.now();
  for (const td of document.querySelectorAll("#tk-rows td.tk-due")) {
    const o = L.items.find((x) => String(x.id) === td.parentElement.dataset.id);
    if (o) td.textContent = dueText(o, now);
  }
}

function listEvent(env) {
  if (env.type !== "ticket" && env.type !== "ticket_deadline") return;
  const d = env.data || {};
  if (L.selected && Number(d.id) === L.selected.id && (env.type === "ticket_deadline" || (d.version || 0) > L.selected.version)) {
    api("GET", `/api/v1/tickets/${L.selected.id}`, undefined, { quiet: true })
      .then((doc) => {
        if (L.selected && doc.id === L.selected.id && doc.version >= L.selected.version && !L.action) showTicket(doc);
      })
      .catch(() => {});
  }
  scheduleList();
}

async function startList() {
  for (const r of document.querySelectorAll("#tk-filters input[name=view]")) r.addEventListener("change", () => loadList());
  $("tk-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadList();
  });
  $("tk-more").addEventListener("click", () => loadList({ more: true }));
  $("tk-refresh").addEventListener("click", () => loadList());
  $("tk-action-form").addEventListener("submit", submitForm);
  $("tk-action-cancel").addEventListener("click", closeForm);
  await Promise.all([loadList(), loadUnits()]);
  const want = new URLSearchParams(location.search).get("ticket");
  if (want) await select(want);
  setInterval(tickList, 1000);
  // a safety net besides the live events (a reconnect gap the replay could not fill)
  setInterval(() => L.action || loadList({ quiet: true }), 60000);
  const stream = new EventStream({ strings: T, skip: ["stats"] });
  stream.on("event", listEvent);
  stream.on("snapshot", () => scheduleList());
  stream.start();
  window.ticketStream = stream; // for tests and debugging
}

// -- the overdue board --------------------------------------------------------------------------------

const B = { over: [], soon: [], loading: null, again: false };

async function loadBoard() {
  if (B.loading) {
    B.again = true;
    return B.loading;
  }
  B.loading = (async () => {
    try {
      // open, not overdue and due before: the API reads this as a range of its index of the open
      // orders by deadline, so the second list holds the orders due soon however many are open
      const dueBefore = new Date(Date.now() + CFG.soon_minutes * 60 * 1000).toISOString();
      const soonQuery = new URLSearchParams({ open: "true", overdue: "false", due_before: dueBefore, limit: "200" });
      const [over, open] = await Promise.all([
        api("GET", "/api/v1/tickets?open=true&overdue=true&limit=200", undefined, { quiet: true }),
        api("GET", `/api/v1/tickets?${soonQuery}`, undefined, { quiet: true }),
      ]);
      const seen = new Map();
      for (const o of [...(over.items || []), ...(open.items || [])]) seen.set(o.id, o);
      split([...seen.values()]);
      $("tk-board-updated").textContent = fmt("tk_board_updated", { time: timeFmt.format(new Date()) });
    } catch (err) {
      showError(err);
    }
  })().finally(() => {
    B.loading = null;
    if (B.again) {
      B.again = false;
      loadBoard();
    }
  });
  return B.loading;
}

/** Sort the open orders into overdue and due soon (the rest is not on the board). */
function split(items, now = Date.now()) {
  const soonMs = CFG.soon_minutes * 60 * 1000;
  B.over = items.filter((o) => isOverdue(o, now)).sort((a, b) => Date.parse(a.due_at || 0) - Date.parse(b.due_at || 0));
  B.soon = items
    .filter((o) => !isOverdue(o, now) && o.due_at && Date.parse(o.due_at) - now <= soonMs)
    .sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
  renderBoard();
}

/** The order's number, linked to the page where the reader can act on it. */
function detailLink(o) {
  const page = CFG.can.review ? "review" : CFG.can.handle ? "queue" : "";
  if (!page) return el("b", { text: o.number });
  return el("a", { href: `/tickets/${page}?ticket=${o.id}`, text: o.number });
}

function boardRow(o) {
  const urge = el("button", { type: "button", class: "warn small", text: T.tk_act_urge, "data-urge": o.number, "aria-label": `${T.tk_act_urge} ${o.number}` });
  urge.disabled = !(o.allowed || []).includes("urge");
  urge.addEventListener("click", () => urgeFromBoard(o, urge));
  return el(
    "tr",
    { "data-id": String(o.id), "data-number": o.number },
    el("td", {}, detailLink(o)),
    el("td", { text: o.unit_name || o.unit }),
    el("td", { text: typeLabel(o) }),
    el("td", {}, el("span", { class: `tk-state st-${o.state}`, text: stateLabel(o.state, o.state_label) })),
    el("td", { class: "tk-due", text: dueText(o) }),
    el("td", { class: "num", text: String(o.urges || 0) }),
    el("td", {}, urge),
  );
}

function renderBoard() {
  $("tk-over-rows").replaceChildren(...B.over.map(boardRow));
  $("tk-soon-rows").replaceChildren(...B.soon.map(boardRow));
  $("tk-over-empty").hidden = B.over.length > 0;
  $("tk-soon-empty").hidden = B.soon.length > 0;
  $("tk-over-count").textContent = String(B.over.length);
  $("tk-soon-count").textContent = String(B.soon.length);
  const units = new Map();
  const add = (o, key) => {
    const code = o.unit || String(o.unit_id);
    const u = units.get(code) || { code, name: o.unit_name || code, over: 0, soon: 0 };
    u[key] += 1;
    units.set(code, u);
  };
  for (const o of B.over) add(o, "over");
  for (const o of B.soon) add(o, "soon");
  const rows = [...units.values()].sort((a, b) => b.over - a.over || b.soon - a.soon || a.name.localeCompare(b.name));
  $("tk-unit-rows").replaceChildren(
    ...rows.map((u) =>
      el(
        "tr",
        { "data-unit": u.code, class: u.over ? "overdue" : "" },
        el("th", { scope: "row", text: u.name }),
        el("td", { class: "num", "data-col": "over", text: String(u.over) }),
        el("td", { class: "num", "data-col": "soon", text: String(u.soon) }),
      ),
    ),
  );
  $("tk-total-overdue").textContent = String(B.over.length);
  $("tk-total-soon").textContent = String(B.soon.length);
}

async function urgeFromBoard(o, button) {
  button.disabled = true;
  try {
    const doc = await api("POST", `/api/v1/tickets/${o.id}/actions`, { action: "urge", version: o.version, note: T.tk_urge_note }, { quiet: true });
    say(fmt("tk_urge_done", { number: doc.number, n: doc.urges }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) say(T.tk_stale);
    else showError(err);
  }
  loadBoard();
}

function tickBoard() {
  const now = Date.now();
  // an order whose due time passed moves from "due soon" to "overdue" without waiting for the server
  if (B.soon.some((o) => isOverdue(o, now))) {
    split([...B.over, ...B.soon], now);
    return;
  }
  for (const [list, id] of [[B.over, "tk-over-rows"], [B.soon, "tk-soon-rows"]]) {
    const rows = $(id).children;
    for (let i = 0; i < rows.length && i < list.length; i++) rows[i].querySelector(".tk-due").textContent = dueText(list[i], now);
  }
}

let boardTimer = 0;
function boardEvent(env) {
  if (env.type !== "ticket" && env.type !== "ticket_deadline") return;
  const d = env.data || {};
  if (env.type === "ticket_deadline" && d.number) say(fmt("tk_board_event", { number: d.number, what: actionLabel(d.kind) }));
  clearTimeout(boardTimer);
  boardTimer = setTimeout(loadBoard, 300);
}

async function startBoard() {
  $("tk-soon-hint").textContent = fmt("tk_board_soon_hint", { m: CFG.soon_minutes });
  $("tk-refresh").addEventListener("click", () => loadBoard());
  await loadBoard();
  setInterval(tickBoard, 1000);
  setInterval(loadBoard, 60000);
  const stream = new EventStream({ strings: T, skip: ["stats"] });
  stream.on("event", boardEvent);
  stream.on("snapshot", () => loadBoard());
  stream.start();
  window.ticketStream = stream; // for tests and debugging
}

// -- statistics ------------------------------------------------------------------------------------

/** The columns of the statistics table: [key, string key, kind]. */
const STAT_COLS = [
  ["accepted", "tk_stats_accepted", "n"],
  ["handled", "tk_stats_handled", "n"],
  ["pending", "tk_stats_pending", "n"],
  ["overdue", "tk_stats_overdue", "n"],
  ["overdue_avg_seconds", "tk_stats_overdue_avg", "span"],
  ["substantiated", "tk_stats_substantiated", "n"],
  ["repeat", "tk_stats_repeat", "n"],
  ["reply_rate", "tk_stats_reply_rate", "rate"],
  ["on_time_rate", "tk_stats_on_time_rate", "rate"],
  ["satisfaction_rate", "tk_stats_satisfaction_rate", "rate"],
  ["urges", "tk_stats_urges", "n"],
];
const pct = new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: 1 });

function statCell(value, kind) {
  if (value === null || value === undefined) return "—";
  if (kind === "rate") return pct.format(value);
  if (kind === "span") return span(value);
  return String(value);
}

function localDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function statsQuery(format = "json") {
  const p = new URLSearchParams({ from: $("tk-from").value, to: $("tk-to").value });
  const groups = [...document.querySelectorAll("#tk-stats-form input[name=group]:checked")].map((x) => x.value);
  if ($("tk-period").value) groups.unshift($("tk-period").value);
  if (groups.length) p.set("group_by", groups.join(","));
  if ($("tk-depth").value !== "" && groups.includes("unit")) p.set("unit_depth", $("tk-depth").value);
  if ($("tk-type").value) p.set("type", $("tk-type").value);
  if (format !== "json") {
    p.set("format", format);
    p.set("lang", LANG === "en" ? "en" : "zh");
  }
  return p;
}

function syncExports() {
  $("tk-csv").href = `/api/v1/tickets/stats?${statsQuery("csv")}`;
  $("tk-xlsx").href = `/api/v1/tickets/stats?${statsQuery("xlsx")}`;
}

async function loadStats(ev) {
  if (ev) ev.preventDefault();
  syncExports();
  say(T.tk_loading);
  let rep;
  try {
    rep = await api("GET", `/api/v1/tickets/stats?${statsQuery()}`);
  } catch {
    say("");
    return;
  }
  const groups = rep.group_by || [];
  const heads = [];
  if (groups.includes("day") || groups.includes("month")) heads.push(["period", T.tk_stats_period_col]);
  if (groups.includes("unit")) heads.push(["unit", T.tk_col_unit]);
  if (groups.includes("type")) heads.push(["type", T.tk_col_type]);
  $("tk-stats-head").replaceChildren(
    ...heads.map(([, label]) => el("th", { scope: "col", text: label })),
    ...STAT_COLS.map(([, key]) => el("th", { scope: "col", class: "num", text: T[key] })),
  );
  const label = (r, key) => {
    if (key === "unit") return r.unit_name || r.unit || "—";
    if (key === "type") return r.type ? typeLabel({ type: r.type, type_label: r.type_label }) : "—";
    return r.period || "—";
  };
  const cells = (r) => STAT_COLS.map(([key, , kind]) => el("td", { class: "num", "data-col": key, text: statCell(r[key], kind) }));
  $("tk-stats-rows").replaceChildren(
    ...rep.rows.map((r) =>
      el(
        "tr",
        { "data-unit": r.unit || "", "data-type": r.type || "", "data-period": r.period || "" },
        ...heads.map(([key], i) => el(i === 0 ? "th" : "td", i === 0 ? { scope: "row", text: label(r, key) } : { text: label(r, key) })),
        ...cells(r),
      ),
    ),
  );
  const span2 = Math.max(1, heads.length);
  const total = el("tr", { id: "tk-stats-total-row" }, el("th", { scope: "row", colSpan: span2, text: T.tk_stats_total }), ...cells(rep.total));
  $("tk-stats-total").replaceChildren(total);
  $("tk-stats-empty").hidden = rep.rows.length > 0;
  $("tk-stats-meta").textContent = fmt("tk_stats_generated", { from: rep.from, to: rep.to, tz: rep.timezone, at: when(rep.generated_at) });
  say(fmt("tk_loaded", { n: rep.total.accepted }));
}

async function startStats() {
  const today = new Date();
  $("tk-to").value = localDay(today);
  $("tk-from").value = localDay(new Date(today.getFullYear(), today.getMonth(), 1));
  try {
    const types = await api("GET", "/api/v1/tickets/types", undefined, { quiet: true });
    const sel = $("tk-type");
    for (const x of types) if (x.active !== false) sel.append(el("option", { value: x.code, text: typeLabel({ type: x.code, type_label: x.label }) }));
  } catch {
    /* the type filter stays "all" */
  }
  $("tk-stats-form").addEventListener("submit", loadStats);
  $("tk-stats-form").addEventListener("change", syncExports);
  await loadStats();
}

// -- start ---------------------------------------------------------------------------------------------

async function main() {
  if (CFG.page === "overdue") await startBoard();
  else if (CFG.page === "stats") await startStats();
  else await startList();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  showError(err);
});
