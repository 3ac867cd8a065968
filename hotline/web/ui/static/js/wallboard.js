// The supervisor wallboard: queues and agents from the statistics API, then live from the event
// stream (events.js). Only the clocks tick locally; the interval charts are refreshed every minute.
import { api, act, showError } from "/static/js/api.js";
import { EventStream } from "/static/js/events.js";
import { Charts } from "./wall-charts.js";
import { duration, fill, level, localTime, percent, since, toPercent, worst } from "./wall-format.js";

const T = JSON.parse(document.getElementById("page-strings").textContent);
const CFG = JSON.parse(document.getElementById("wb-config").textContent);
const CAN = CFG.can;
const LEVEL_ICON = { ok: "●", warn: "▲", alarm: "■" };
const CALL_EVENTS = new Set([
  "enter_queue", "offer", "offer_withdrawn", "connect", "complete", "abandon", "exit", "overflow",
  "call_ringing", "call_answered", "call_hold", "call_resume", "call_hangup", "transfer", "conference",
  "supervise", "takeover", "call_released", "call_ended", "reserve", "callback_requested", "voicemail",
]);
const QUEUE_EVENTS = new Set(["enter_queue", "connect", "abandon", "exit", "overflow", "complete", "callback_requested"]);
const WAITING_STATES = new Set(["queued", "ringing"]);
const ON_CALL = new Set(["reserved", "ringing", "busy", "hold", "outbound"]);

const state = {
  queues: [], // GET /api/v1/stats/queues items
  // each queue document carries _at: Date.now() when it arrived (the longest wait ticks from there)
  agents: new Map(), // agent_id -> GET /api/v1/stats/agents item
  calls: new Map(), // call id -> CallLive
  queuedAt: new Map(), // call id -> ISO time it entered its queue (from enter_queue events)
  reservedFor: new Map(), // call id -> agent id (from reserve events)
  thresholds: null, // {waiting: [warn, alarm], longest_wait: [...], sl: [...]}
  skew: 0, // server clock − local clock, ms (from event envelopes)
  mine: null, // {call_id, mode}: the call this supervisor listens to
  reasons: [], // not-ready reasons (GET /api/v1/codes)
};

// -- small DOM helpers ---------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function note(text) {
  const el = document.getElementById("wb-note");
  el.textContent = text;
}

function stateName(s) {
  return T[`wb_state_${s}`] || s || "–";
}

function levelBadge(lvl) {
  return h("span", { class: `lvl lvl-${lvl}` },
    h("span", { class: "lvl-icon", "aria-hidden": "true", text: LEVEL_ICON[lvl] }), " ",
    h("span", { class: "lvl-text", text: T[`wb_level_${lvl}`] }));
}

/** A number cell with its level shown as colour, icon and (for warn/alarm) text. */
function levelCell(text, lvl, extra = {}) {
  const td = h("td", { class: `num lvl-cell lvl-${lvl}`, "data-level": lvl, ...extra });
  fillLevelCell(td, text, lvl);
  return td;
}

function fillLevelCell(td, text, lvl) {
  td.className = `num lvl-cell lvl-${lvl}`;
  td.dataset.level = lvl;
  td.replaceChildren(h("span", { class: "val", text }));
  if (lvl !== "ok") {
    // the icon shows the level without colour; the text is for screen readers (and tests)
    td.append(" ", h("span", { class: "lvl-icon", "aria-hidden": "true", title: T[`wb_level_${lvl}`], text: LEVEL_ICON[lvl] }),
      h("span", { class: "lvl-text visually-hidden", text: T[`wb_level_${lvl}`] }));
  }
}

function debounce(fn, ms) {
  let timer = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

// -- queues --------------------------------------------------------------------------------------

function queueLevels(q, longest) {
  const th = state.thresholds;
  const server = q.levels || {};
  if (!th) {
    return { waiting: server.waiting || "ok", longest_wait: server.longest_wait || "ok", sl: server.sl || "ok" };
  }
  return {
    waiting: level(q.waiting, th.waiting),
    longest_wait: level(longest, th.longest_wait),
    sl: level(q.sl, th.sl, true),
  };
}

function longestNow(q) {
  if (!q.waiting || q.longest_wait == null) return q.waiting ? 0 : null;
  return q.longest_wait + (Date.now() - (q._at || Date.now())) / 1000;
}

function renderQueues() {
  const tbody = document.querySelector("#wb-queues tbody");
  const rows = state.queues.map((q) => {
    const longest = longestNow(q);
    const lv = queueLevels(q, longest);
    const overall = worst(worst(lv.waiting, lv.longest_wait), lv.sl);
    const a = q.agents || {};
    return h("tr", { "data-queue": q.queue, "data-level": overall },
      h("th", { scope: "row", class: "qname", text: q.display_name || q.queue }),
      h("td", { class: "status" }, levelBadge(overall)),
      levelCell(String(q.waiting ?? 0), lv.waiting, { "data-col": "waiting" }),
      levelCell(longest == null ? "–" : duration(longest), lv.longest_wait, { "data-col": "longest_wait" }),
      levelCell(percent(q.sl), lv.sl, { "data-col": "sl" }),
      h("td", { class: "num", "data-col": "sl_interval", text: percent(q.sl_interval) }),
      h("td", { class: "num", "data-col": "asa", text: duration(q.asa) }),
      h("td", { class: "num", "data-col": "offered", text: String(q.offered ?? 0) }),
      h("td", { class: "num", "data-col": "answered", text: String(q.answered ?? 0) }),
      h("td", { class: "num", "data-col": "abandoned", text: String(q.abandoned ?? 0) }),
      h("td", { class: "num", "data-col": "ready", text: String(a.ready ?? 0) }),
      h("td", { class: "num", "data-col": "busy", text: String((a.busy ?? 0) + (a.ringing ?? 0)) }),
      h("td", { class: "num", "data-col": "wrap_up", text: String(a.wrap_up ?? 0) }),
      h("td", { class: "num", "data-col": "not_ready", text: String(a.not_ready ?? 0) }));
  });
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "14", class: "wb-empty", text: T.wb_no_queues })));
  tbody.replaceChildren(...rows);
}

/** The ticking cells of the queue table (longest wait and the levels it drives). */
function tickQueues() {
  for (const q of state.queues) {
    if (!q.waiting) continue;
    const row = document.querySelector(`#wb-queues tr[data-queue="${CSS.escape(q.queue)}"]`);
    if (!row) continue;
    const longest = longestNow(q);
    const lv = queueLevels(q, longest);
    fillLevelCell(row.querySelector('[data-col="longest_wait"]'), duration(longest), lv.longest_wait);
    const overall = worst(worst(lv.waiting, lv.longest_wait), lv.sl);
    if (row.dataset.level !== overall) {
      row.dataset.level = overall;
      row.querySelector(".status").replaceChildren(levelBadge(overall));
    }
  }
}

// -- agents --------------------------------------------------------------------------------------

function agentName(id) {
  const a = state.agents.get(id);
  return a ? a.name : `#${id}`;
}

function callText(a) {
  if (!a.call_id) return "";
  const q = state.queues.find((x) => x.queue === a.queue);
  const qname = q ? q.display_name || q.queue : a.queue || "";
  return [a.caller, qname].filter(Boolean).join(" · ");
}

/** What the actions cell depends on (rebuilt only when this changes, so an open menu stays open). */
function actionKey(a) {
  const mine = state.mine && state.mine.call_id === a.call_id ? state.mine.mode : "";
  return [a.state, a.call_id || "", mine].join("|");
}

function supervise(a, mode) {
  return async () => {
    const body = { mode };
    const phone = document.getElementById("wb-my-phone");
    if (phone && phone.value.trim()) body.extension = phone.value.trim();
    const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(a.call_id)}/supervise`, body);
    if (doc) {
      state.mine = { call_id: a.call_id, mode };
      note(fill(T.wb_done, { what: `${T[`wb_${mode}`]} · ${a.name}` }));
      renderAgents();
    }
  };
}

function stopSupervising(a) {
  return async () => {
    const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(a.call_id)}/supervise/stop`);
    if (doc) {
      state.mine = null;
      note(fill(T.wb_done, { what: `${T.wb_stop} · ${a.name}` }));
      renderAgents();
    }
  };
}

function force(a, action, body) {
  return async () => {
    const doc = await act("POST", `/api/v1/agents/${a.agent_id}/${action}`, body);
    if (doc) {
      applyAgentStatus(a.agent_id, doc);
      note(fill(T.wb_done, { what: a.name }));
    }
  };
}

function actionsCell(a) {
  const td = h("td", { class: "wb-actions", "data-key": actionKey(a) });
  const items = [];
  const onCall = Boolean(a.call_id) && a.state !== "wrap_up";
  if (CAN.supervise && onCall && a.agent_id !== CFG.user_id) {
    const mine = state.mine && state.mine.call_id === a.call_id ? state.mine.mode : "";
    for (const mode of ["listen", "whisper", "barge"]) {
      items.push(h("button", { type: "button", class: "sup", "data-action": mode, "aria-pressed": String(mine === mode), onclick: supervise(a, mode) }, T[`wb_${mode}`]));
    }
    if (mine) items.push(h("button", { type: "button", class: "sup stop", "data-action": "stop", onclick: stopSupervising(a) }, T.wb_stop));
  }
  if (CAN.control && a.state && a.state !== "logged_out") {
    const talking = ON_CALL.has(a.state);
    if (["not_ready", "wrap_up"].includes(a.state)) items.push(h("button", { type: "button", "data-action": "ready", onclick: force(a, "ready") }, T.wb_force_ready));
    if (a.state !== "not_ready" && !talking) {
      const sel = h("select", { "aria-label": `${T.wb_reason} · ${a.name}` },
        state.reasons.map((r) => h("option", { value: r.code, text: CFG.lang === "en" ? r.label_en : r.label_zh })));
      items.push(h("span", { class: "nr" }, sel,
        h("button", { type: "button", "data-action": "not-ready", onclick: () => force(a, "not-ready", { reason: sel.value || "break" })() }, T.wb_force_not_ready)));
    }
    items.push(h("button", { type: "button", class: "danger", "data-action": "logout", onclick: force(a, "logout?force=true") }, T.wb_force_logout));
  }
  if (!items.length) return td;
  const details = h("details", {},
    h("summary", { "aria-label": fill(T.wb_actions_for, { name: a.name }) }, T.wb_actions),
    h("div", { class: "menu" }, items));
  td.append(details);
  return td;
}

function agentRow(a) {
  const secs = since(a.since, Date.now(), state.skew);
  const supervised = state.mine && a.call_id && state.mine.call_id === a.call_id;
  const cells = [
    h("th", { scope: "row", class: "aname" }, a.name, a.extension ? h("span", { class: "ext", text: ` ${a.extension}` }) : null),
    h("td", { class: "state" },
      h("span", { class: `st st-${a.state}`, "data-col": "state", text: stateName(a.state) }),
      a.reason && a.state === "not_ready" ? h("span", { class: "reason", text: ` (${reasonLabel(a.reason)})` }) : null,
      supervised ? h("span", { class: "tag mine", text: ` ${fill(T.wb_supervising, { mode: T[`wb_${state.mine.mode}`] })}` }) : null),
    h("td", { class: "num", "data-col": "time", text: a.state === "logged_out" ? "–" : duration(secs) }),
    h("td", { "data-col": "call", text: callText(a) }),
    h("td", { class: "num", "data-col": "handled", text: String(a.handled ?? 0) }),
    h("td", { class: "num", "data-col": "aht", text: duration(a.aht) }),
  ];
  return cells;
}

function reasonLabel(code) {
  if (code === "login") return T.wb_reason_login;
  const r = state.reasons.find((x) => x.code === code);
  if (!r) return code;
  return CFG.lang === "en" ? r.label_en : r.label_zh;
}

function renderAgents() {
  const tbody = document.querySelector("#wb-agents tbody");
  const list = [...state.agents.values()].sort((x, y) => (x.name || "").localeCompare(y.name || "", CFG.lang));
  const old = new Map([...tbody.querySelectorAll("tr[data-agent]")].map((tr) => [Number(tr.dataset.agent), tr]));
  const rows = [];
  for (const a of list) {
    let tr = old.get(a.agent_id);
    const cells = agentRow(a);
    if (!tr) tr = h("tr", { "data-agent": String(a.agent_id) });
    tr.dataset.state = a.state;
    const prevActions = tr.querySelector("td.wb-actions");
    tr.replaceChildren(...cells);
    if (!CFG.kiosk) {
      if (prevActions && prevActions.dataset.key === actionKey(a)) tr.append(prevActions);
      else {
        const open = prevActions && prevActions.querySelector("details[open]");
        const cell = actionsCell(a);
        if (open && cell.querySelector("details")) cell.querySelector("details").open = true;
        tr.append(cell);
      }
    }
    rows.push(tr);
  }
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: CFG.kiosk ? "6" : "7", class: "wb-empty", text: T.wb_no_agents })));
  tbody.replaceChildren(...rows);
  renderMessageTargets();
  renderCalls();
}

function tickAgents() {
  for (const tr of document.querySelectorAll("#wb-agents tr[data-agent]")) {
    const a = state.agents.get(Number(tr.dataset.agent));
    if (!a) continue;
    const cell = tr.querySelector('[data-col="time"]');
    if (cell && a.state !== "logged_out") cell.textContent = duration(since(a.since, Date.now(), state.skew));
  }
}

/** An agent document from GET/POST /api/v1/agents/{id} (AgentStatus) folded into the stats item. */
function applyAgentStatus(id, doc) {
  const a = state.agents.get(id);
  if (!a || !doc) return;
  a.state = doc.state ?? a.state;
  a.since = doc.since ?? a.since;
  a.reason = doc.reason ?? null;
  renderAgents();
}

// -- waiting calls -------------------------------------------------------------------------------

function waitingCalls() {
  return [...state.calls.values()]
    .filter((c) => WAITING_STATES.has(c.state) && !c.agent_id)
    .sort((x, y) => String(queuedSince(x)).localeCompare(String(queuedSince(y))));
}

function queuedSince(c) {
  return state.queuedAt.get(c.id) || c.queued_at || c.started_at;
}

function reserveCell(c) {
  const agents = [...state.agents.values()].filter((a) => a.state && a.state !== "logged_out");
  const sel = h("select", { "aria-label": `${T.wb_reserve_for} · ${c.caller || c.id}` },
    agents.map((a) => h("option", { value: String(a.agent_id), text: `${a.name}${a.extension ? " " + a.extension : ""} · ${stateName(a.state)}` })));
  const btn = h("button", {
    type: "button",
    "data-action": "reserve",
    onclick: async () => {
      const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(c.id)}/reserve`, { agent_id: Number(sel.value) });
      if (doc) {
        state.reservedFor.set(c.id, Number(sel.value));
        note(fill(T.wb_done, { what: `${T.wb_reserve} · ${agentName(Number(sel.value))}` }));
        renderCalls();
      }
    },
  }, T.wb_reserve);
  if (!agents.length) btn.disabled = true;
  const reserved = state.reservedFor.get(c.id);
  return h("td", { class: "wb-reserve" }, reserved ? h("span", { class: "tag", text: `${T.wb_reserved_for} ${agentName(reserved)} ` }) : null, sel, btn);
}

function renderCalls() {
  const tbody = document.querySelector("#wb-calls tbody");
  const list = waitingCalls();
  const old = new Map([...tbody.querySelectorAll("tr[data-call]")].map((tr) => [tr.dataset.call, tr]));
  const rows = list.map((c) => {
    const key = [c.state, c.queue, state.reservedFor.get(c.id) || "", state.agents.size].join("|");
    let tr = old.get(c.id);
    if (tr && tr.dataset.key === key) return tr;
    const q = state.queues.find((x) => x.queue === c.queue);
    tr = h("tr", { "data-call": c.id, "data-key": key },
      h("th", { scope: "row", text: c.caller || "–" }),
      h("td", { text: q ? q.display_name || q.queue : c.queue || "" }),
      h("td", { class: "num", "data-col": "wait", text: duration(since(queuedSince(c), Date.now(), state.skew)) }),
      CAN.control && CAN.supervise ? reserveCell(c) : null);
    return tr;
  });
  tbody.replaceChildren(...rows);
  document.getElementById("wb-no-waiting").hidden = rows.length > 0;
}

function tickCalls() {
  for (const tr of document.querySelectorAll("#wb-calls tr[data-call]")) {
    const c = state.calls.get(tr.dataset.call);
    if (c) tr.querySelector('[data-col="wait"]').textContent = duration(since(queuedSince(c), Date.now(), state.skew));
  }
}

// -- loading -------------------------------------------------------------------------------------

async function loadQueues() {
  const rows = await api("GET", "/api/v1/stats/queues", undefined, { quiet: true });
  const now = Date.now();
  state.queues = rows.map((q) => ({ ...q, _at: now }));
  renderQueues();
}

async function loadAgents() {
  const rows = await api("GET", "/api/v1/stats/agents", undefined, { quiet: true });
  state.agents = new Map(rows.map((a) => [a.agent_id, a]));
  renderAgents();
}

async function loadCalls() {
  const rows = await api("GET", "/api/v1/calls/live", undefined, { quiet: true });
  setCalls(rows);
}

function setCalls(rows) {
  const before = state.mine ? `${state.mine.call_id}|${state.mine.mode}` : "";
  state.calls = new Map((rows || []).map((c) => [c.id, c]));
  if (state.mine && !state.calls.has(state.mine.call_id)) state.mine = null;
  for (const c of state.calls.values()) {
    const me = (c.supervisors || []).find((x) => x && x.user_id === CFG.user_id);
    if (me) state.mine = { call_id: c.id, mode: me.mode };
    else if (state.mine && state.mine.call_id === c.id) state.mine = null;
  }
  for (const m of [state.queuedAt, state.reservedFor]) {
    for (const id of [...m.keys()]) if (!state.calls.has(id)) m.delete(id);
  }
  const after = state.mine ? `${state.mine.call_id}|${state.mine.mode}` : "";
  if (after !== before) renderAgents();
  else renderCalls();
}

async function loadSettings() {
  try {
    const doc = await api("GET", "/api/v1/wallboard/settings", undefined, { quiet: true });
    state.thresholds = doc && doc.thresholds ? doc.thresholds : doc;
  } catch (err) {
    console.warn("wallboard settings unavailable; using the server's levels", err);
  }
  fillSettingsForm();
}

async function loadReasons() {
  try {
    const codes = await api("GET", "/api/v1/codes", undefined, { quiet: true });
    state.reasons = codes.filter((c) => c.kind === "not_ready");
  } catch {
    state.reasons = [];
  }
}

let charts = null;
async function loadIntervals() {
  try {
    const rows = await api("GET", "/api/v1/stats/intervals?hours=8", undefined, { quiet: true });
    charts.draw(rows, state.thresholds);
  } catch (err) {
    console.warn("interval statistics unavailable", err);
  }
}

const refreshQueues = debounce(() => loadQueues().catch((e) => console.warn(e)), 250);
const refreshAgents = debounce(() => loadAgents().catch((e) => console.warn(e)), 250);
const refreshCalls = debounce(() => loadCalls().catch((e) => console.warn(e)), 250);
const refreshCharts = debounce(() => loadIntervals(), 3000);

// -- live events ---------------------------------------------------------------------------------

function applyStats(data) {
  if (Array.isArray(data.queues)) {
    // the REST list is the scoped set; a stats event never widens it
    // only the documents that changed arrive; the REST list is the scoped set (never widened)
    const known = new Set(state.queues.map((q) => q.queue));
    const fresh = data.queues.filter((q) => known.has(q.queue));
    if (fresh.length) {
      const now = Date.now();
      const byName = new Map(fresh.map((q) => [q.queue, { ...q, _at: now }]));
      state.queues = state.queues.map((q) => byName.get(q.queue) || q);
      renderQueues();
    }
  }
  if (Array.isArray(data.agents)) {
    let unknown = false;
    for (const a of data.agents) {
      if (state.agents.has(a.agent_id)) state.agents.set(a.agent_id, a);
      else unknown = true;
    }
    if (data.agents.length) renderAgents();
    if (unknown) refreshAgents();
  }
}

function onEvent(env) {
  if (env.at) {
    const skew = Date.parse(env.at) - Date.now();
    if (!isNaN(skew)) state.skew = Math.abs(skew) < 2000 ? 0 : skew;
  }
  const type = env.type;
  if (type === "stats") {
    applyStats(env.data || {});
    return;
  }
  if (type === "agent_state" && env.agent_id != null) {
    const a = state.agents.get(env.agent_id);
    if (a) {
      a.state = env.data.new;
      a.since = env.at;
      a.reason = env.data.reason || null;
      if (!["busy", "ringing", "reserved", "hold", "outbound", "wrap_up"].includes(a.state)) {
        a.call_id = null;
        a.caller = null;
      }
      renderAgents();
    } else refreshAgents();
    refreshQueues(); // agents by state per queue, without waiting for the next stats tick
  }
  if (type === "agent_login" || type === "agent_logout") refreshAgents();
  if (type === "enter_queue" && env.call_id) state.queuedAt.set(env.call_id, env.at);
  if (type === "reserve" && env.call_id && env.data && env.data.agent_id != null) {
    state.reservedFor.set(env.call_id, env.data.agent_id);
  }
  if (CALL_EVENTS.has(type)) refreshCalls();
  if (QUEUE_EVENTS.has(type)) {
    refreshQueues();
    refreshCharts();
  }
  if (["connect", "complete", "call_answered", "call_ended"].includes(type)) refreshAgents();
  if (type === "supervise" && env.data && env.data.supervisor_id === CFG.user_id) {
    state.mine = env.data.state === "ended" ? null : { call_id: env.call_id, mode: env.data.mode };
    renderAgents();
  }
}

function connStatus(s) {
  const el = document.getElementById("wb-conn");
  el.dataset.state = s;
  el.textContent = T[`wb_conn_${s}`] || s;
}

// -- forms ---------------------------------------------------------------------------------------

function renderMessageTargets() {
  const sel = document.getElementById("wb-msg-to");
  if (!sel) return;
  const keep = sel.value;
  const opts = [h("option", { value: "all", text: T.wb_to_all })];
  for (const a of [...state.agents.values()].sort((x, y) => (x.name || "").localeCompare(y.name || "", CFG.lang))) {
    if (a.agent_id !== CFG.user_id) opts.push(h("option", { value: String(a.agent_id), text: a.name }));
  }
  const send = document.querySelector("#wb-message button[type=submit]");
  if (send) send.disabled = opts.length < 2; // nobody to write to
  const sig = opts.map((o) => o.value).join(",");
  if (sel.dataset.sig === sig) return;
  sel.dataset.sig = sig;
  sel.replaceChildren(...opts);
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function setupMessages() {
  const section = document.getElementById("wb-message-section");
  if (!section || !CAN.message) return;
  section.hidden = false;
  const form = document.getElementById("wb-message");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const to = form.elements.to.value;
    const users = to === "all" ? [...state.agents.keys()].filter((id) => id !== CFG.user_id) : [Number(to)];
    const body = { to_users: users, to_unit: null, priority: form.elements.priority.value, text: form.elements.text.value.trim() };
    if (!body.text) return;
    const doc = await act("POST", "/api/v1/messages", body);
    if (doc) {
      form.elements.text.value = "";
      note(T.wb_sent);
      flash(form, T.wb_sent);
    }
  });
}

function flash(form, text) {
  let el = form.querySelector(".wb-flash");
  if (!el) {
    el = h("span", { class: "wb-flash", role: "status" });
    form.append(el);
  }
  el.textContent = text;
  setTimeout(() => (el.textContent = ""), 4000);
}

/** SL thresholds are edited in percent; the server keeps what it sent (fractions or percent). */
function slIsFraction() {
  const sl = state.thresholds && state.thresholds.sl;
  return Array.isArray(sl) && sl.every((v) => v == null || v <= 1);
}

function fillSettingsForm() {
  const form = document.getElementById("wb-settings");
  if (!form || !state.thresholds) return;
  for (const key of ["waiting", "longest_wait", "sl"]) {
    const pair = state.thresholds[key] || [null, null];
    const conv = (v) => (v == null ? "" : key === "sl" ? Math.round(toPercent(v)) : v);
    form.elements[`${key}-warn`].value = conv(pair[0]);
    form.elements[`${key}-alarm`].value = conv(pair[1]);
  }
}

function setupSettings() {
  const section = document.getElementById("wb-settings-section");
  if (!section || !CAN.settings) return;
  section.hidden = false;
  const form = document.getElementById("wb-settings");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fraction = slIsFraction();
    const body = {};
    for (const key of ["waiting", "longest_wait", "sl"]) {
      let warn = Number(form.elements[`${key}-warn`].value);
      let alarm = Number(form.elements[`${key}-alarm`].value);
      if (key === "sl" && fraction) {
        warn /= 100;
        alarm /= 100;
      }
      body[key] = [warn, alarm];
    }
    const doc = await act("PUT", "/api/v1/wallboard/settings", body);
    if (doc) {
      state.thresholds = doc.thresholds ? doc.thresholds : doc;
      fillSettingsForm();
      renderQueues();
      loadIntervals();
      flash(form, T.wb_saved);
      note(T.wb_saved);
    }
  });
}

// -- start ---------------------------------------------------------------------------------------

function tick() {
  document.getElementById("wb-clock").textContent = localTime(new Date(), CFG.lang);
  tickQueues();
  tickAgents();
  tickCalls();
}

async function main() {
  charts = new Charts(document.getElementById("wb-chart-calls"), document.getElementById("wb-chart-sl"), T, CFG.lang, CFG.kiosk ? 280 : 200);
  setupMessages();
  setupSettings();
  tick();
  setInterval(tick, 1000);
  const stream = new EventStream({ strings: T });
  stream.on("status", connStatus);
  stream.on("event", onEvent);
  stream.on("snapshot", (data) => {
    if (Array.isArray(data.calls)) setCalls(data.calls);
    if (data.stats) applyStats(data.stats);
    // a fresh snapshot after a gap: the statistics may have moved too
    refreshQueues();
    refreshAgents();
  });
  await Promise.all([loadSettings(), loadReasons()]);
  const results = await Promise.allSettled([loadQueues(), loadAgents(), loadCalls()]);
  for (const r of results) if (r.status === "rejected") showError(r.reason);
  stream.start();
  await loadIntervals();
  setInterval(loadIntervals, 60000);
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  showError(err);
});
