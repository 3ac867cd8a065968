// The customer panel of the agent desk (templates/desk_customer.html): the screen pop of the
// call (GET /api/v1/calls/{id}/customer), picking among several accounts of the caller's number
// (POST …/customer links the call), recording a verification (POST …/verification: PIN or
// security questions) and, once verified, the private part (balance, ID number, address, phones).
//
// desk.js calls customerPanel(env, callId) for every event about the agent's call; the panel
// acts on call_ringing / call_answered (load the pop), the end of the call (keeps showing it for
// the wrap-up), and customer_linked / customer_verified done elsewhere (reload).

import { act, api } from "/static/js/api.js";

const T = JSON.parse(document.getElementById("page-strings").textContent);
const CFG = JSON.parse(document.getElementById("desk-config").textContent);
const ME = CFG.user_id;
const LANG = CFG.lang;
const $ = (id) => document.getElementById(id);

const P = {
  callId: null, // the call shown
  ended: false,
  doc: null, // the last ScreenPopOut
  seq: 0, // answers to older requests are dropped
};

const dateTimeFmt = new Intl.DateTimeFormat(LANG, {
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
});

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
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") node.setAttribute(k, v);
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

const yuan = (amount) => fmt("cust_yuan", { amount });
const classLabel = (c) => T[`cust_class_${c}`] || c || "—";

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", { text: label }), el("dd", { text: String(value) }));
  }
}

// -- loading -------------------------------------------------------------------------------------

async function load(callId, { customerId = null } = {}) {
  const seq = ++P.seq;
  const q = customerId ? `?customer_id=${encodeURIComponent(customerId)}` : "";
  try {
    const doc = await api("GET", `/api/v1/calls/${encodeURIComponent(callId)}/customer${q}`, undefined, { quiet: true });
    if (seq === P.seq && P.callId === callId) show(doc);
  } catch (err) {
    if (seq === P.seq && P.callId === callId) status(err.detail || String(err));
  }
}

async function pick(customerId) {
  const callId = P.callId;
  const seq = ++P.seq;
  status(T.cust_loading);
  const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(callId)}/customer`, { customer_id: customerId });
  if (doc && seq === P.seq && P.callId === callId) show(doc);
}

async function verify(event) {
  event.preventDefault();
  if (!P.doc || !P.doc.pop) return;
  const callId = P.callId;
  const method = document.querySelector("input[name=cust-method]:checked").value;
  const body = { customer_id: P.doc.pop.customer.id, method, note: $("cust-note").value.trim() };
  if (method === "pin") body.pin = $("cust-pin").value.trim();
  $("btn-cust-verify").disabled = true;
  try {
    const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(callId)}/verification`, body);
    if (doc && P.callId === callId) {
      $("cust-pin").value = "";
      $("cust-note").value = "";
      P.seq++;
      show(doc);
    }
  } finally {
    $("btn-cust-verify").disabled = false;
  }
}

// -- rendering -----------------------------------------------------------------------------------

function status(text) {
  $("cust-status").textContent = text || "";
  $("cust-status").hidden = !text;
}

function candidateItem(c) {
  const who = el(
    "span",
    { class: "who" },
    el("b", { text: c.name }),
    " ",
    el("span", { class: "cust-account", text: c.account_no }),
    " · ",
    classLabel(c.customer_class),
    " · ",
    c.masked_address || "",
  );
  const badges = el("span", { class: "cust-badges" });
  if (c.vip) badges.append(el("span", { class: "badge vip", text: T.cust_vip }));
  if (c.blacklisted) badges.append(el("span", { class: "badge black", text: T.cust_blacklisted }));
  const button = el("button", { type: "button", class: "secondary", text: T.cust_pick_button, "data-customer": String(c.customer_id) });
  button.addEventListener("click", () => pick(c.customer_id));
  return el("li", { "data-customer": String(c.customer_id), "data-account": c.account_no }, who, badges, button);
}

function show(doc) {
  P.doc = doc;
  $("cust").hidden = false;
  const cands = doc.candidates || [];
  const pop = doc.pop;
  $("cust").dataset.selected = pop ? String(pop.customer.id) : "";
  if (!pop) {
    $("cust-card").hidden = true;
    if (cands.length > 1) {
      status("");
      $("cust-pick").textContent = fmt("cust_pick", { n: cands.length });
      $("cust-list").replaceChildren(...cands.map(candidateItem));
      $("cust-candidates").hidden = false;
    } else {
      $("cust-candidates").hidden = true;
      status(doc.phone ? fmt("cust_none", { phone: doc.phone }) : T.cust_no_number);
    }
    return;
  }
  status(P.ended ? T.cust_call_ended : "");
  $("cust-candidates").hidden = true;
  renderCard(pop);
  const others = cands.filter((c) => c.customer_id !== pop.customer.id);
  $("cust-others").hidden = others.length === 0;
  $("cust-others-list").replaceChildren(...others.map(candidateItem));
}

function renderCard(pop) {
  const c = pop.customer;
  $("cust-card").hidden = false;
  $("cust-card").dataset.customer = String(c.id);
  $("cust-name").textContent = c.name;
  $("cust-account").textContent = `${T.cust_account} ${c.account_no}`;
  const badges = [];
  if (c.vip) badges.push(el("span", { class: "badge vip", text: T.cust_vip }));
  if (c.blacklisted) {
    const text = c.blacklist_reason ? `${T.cust_blacklisted}: ${c.blacklist_reason}` : T.cust_blacklisted;
    badges.push(el("span", { class: "badge black", text }));
  }
  if (pop.verified) {
    badges.push(el("span", { class: "badge verified", text: T[`cust_verified_${pop.verified}`] || pop.verified }));
  } else {
    badges.push(el("span", { class: "badge unverified", text: T.cust_not_verified }));
  }
  $("cust-badges").replaceChildren(...badges);

  // outages affecting the customer (not private)
  const outage = $("cust-outage");
  if (pop.outages && pop.outages.length) {
    outage.replaceChildren(
      ...pop.outages.map((o) => {
        const notice = (o.notice && (o.notice[LANG === "en" ? "en" : "zh"] || o.notice.zh || o.notice.en)) || o.cause;
        const text =
          o.status === "scheduled"
            ? fmt("cust_outage_planned", { notice, start: when(o.start_at) })
            : fmt("cust_outage", { notice, end: o.expected_end_at ? when(o.expected_end_at) : T.cust_outage_unknown_end });
        return el("p", { text });
      }),
    );
    outage.hidden = false;
  } else if (pop.outages_error) {
    outage.replaceChildren(el("p", { text: T.cust_outages_unavailable }));
    outage.hidden = false;
  } else {
    outage.hidden = true;
  }

  kv($("cust-facts"), [
    [T.cust_class, classLabel(c.customer_class)],
    [T.cust_voltage, c.voltage],
    [T.cust_unit, c.unit && c.unit.name],
    [T.cust_address, pop.private ? "" : c.masked_address],
    [T.cust_dedicated_agent, c.dedicated_agent && c.dedicated_agent.name],
    [T.cust_tags, (c.tags || []).join("、")],
  ]);

  // balance: only once verified (or for customer.private holders)
  const bal = $("cust-balance");
  if (pop.balance && pop.balance.error) {
    bal.replaceChildren(el("p", { class: "error", role: "alert", text: fmt("cust_billing_unavailable", { error: pop.balance.error }) }));
  } else if (pop.balance) {
    const b = pop.balance;
    const dl = el("dl", { class: "kv" });
    kv(dl, [
      [T.cust_arrears, yuan(b.arrears)],
      [T.cust_late_fee, yuan(b.late_fee)],
      [T.cust_credit, b.credit !== "0.00" ? yuan(b.credit) : ""],
      [T.cust_overdue_bills, b.overdue_bills || ""],
      [T.cust_next_due, b.next_due_on || ""],
    ]);
    bal.replaceChildren(
      el("h4", { text: T.cust_balance }),
      el("p", {}, `${T.cust_amount_due}: `, el("span", { class: "amount", id: "cust-amount-due", text: yuan(b.amount_due) })),
      dl,
    );
  } else if (!pop.private_shown) {
    bal.replaceChildren(el("p", { class: "muted", text: T.cust_balance_hidden }));
  } else {
    bal.replaceChildren();
  }

  // the private part
  const priv = pop.private;
  $("cust-private").hidden = !priv;
  if (priv) {
    kv($("cust-private-facts"), [
      [T.cust_id_number, priv.id_number],
      [T.cust_full_address, priv.address],
      [T.cust_phones, (priv.phones || []).join(", ")],
      [T.cust_email, priv.email],
    ]);
  }

  // the verification form while not verified
  const form = $("cust-verify");
  form.hidden = Boolean(pop.private_shown);
  if (!pop.private_shown) {
    const pinRadio = document.querySelector("input[name=cust-method][value=pin]");
    pinRadio.disabled = !c.has_pin;
    if (!c.has_pin) document.querySelector("input[name=cust-method][value=questions]").checked = true;
    $("cust-pin-label").title = c.has_pin ? "" : T.cust_no_pin;
    syncMethod();
  }

  // open work orders, last contacts, last agent
  const orders = $("cust-orders");
  if (pop.open_orders && pop.open_orders.length) {
    orders.replaceChildren(...pop.open_orders.map((o) => el("li", { text: [o.id, o.title, o.status].filter(Boolean).join(" · ") })));
  } else {
    orders.replaceChildren(el("li", { class: "muted", text: pop.open_orders_source ? T.cust_no_open_orders : T.cust_orders_not_connected }));
  }
  const contacts = $("cust-contacts");
  if (pop.last_contacts && pop.last_contacts.length) {
    contacts.replaceChildren(
      ...pop.last_contacts.map((x) =>
        el("li", { text: [when(x.at), T[`cust_kind_${x.kind}`] || x.kind, x.summary, x.agent_name].filter(Boolean).join(" · ") }),
      ),
    );
  } else {
    contacts.replaceChildren(el("li", { class: "muted", text: T.cust_no_contacts }));
  }
  $("cust-last-agent").textContent = pop.last_agent ? `${T.cust_last_agent}: ${pop.last_agent.name} (${when(pop.last_agent.at)})` : "";
}

function syncMethod() {
  const method = document.querySelector("input[name=cust-method]:checked").value;
  $("cust-pin").hidden = method !== "pin";
  $("cust-pin-label").hidden = method !== "pin";
  $("cust-pin").required = method === "pin";
}

function reset() {
  P.doc = null;
  P.ended = false;
  $("cust").hidden = false;
  $("cust-card").hidden = true;
  $("cust-candidates").hidden = true;
  status(T.cust_loading);
}

// -- events from the desk --------------------------------------------------------------------------

/** Called by desk.js for every event about the agent's call (`callId`: the call, not the ACD task). */
export function customerPanel(env, callId) {
  if (!callId) return;
  const d = env.data || {};
  switch (env.type) {
    case "call_ringing":
    case "call_answered":
    case "connect":
      if (P.callId !== callId) {
        P.callId = callId;
        reset();
        load(callId);
      } else if (P.ended) {
        P.ended = false;
      }
      break;
    case "customer_linked":
    case "customer_verified":
      if (P.callId === callId && d.by !== ME) load(callId, { customerId: d.customer_id });
      break;
    case "call_ended":
    case "call_hangup":
    case "call_released":
    case "abandon":
      if (P.callId === callId) {
        P.ended = true;
        if (P.doc && P.doc.pop) status(T.cust_call_ended);
        else if (!P.doc) $("cust").hidden = true;
      }
      break;
    default:
      break;
  }
}

for (const r of document.querySelectorAll("input[name=cust-method]")) r.addEventListener("change", syncMethod);
$("cust-verify").addEventListener("submit", verify);
