// Tollgate billing console. The admin token stays in this tab's sessionStorage and is sent
// only as the Authorization header of same-origin API calls; it is never put in a URL the
// server sees. Every value from the API reaches the page through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "tollgate.billing.admin_token";
const REFRESH_MS = 10000;
const PAGE_SIZE = { orgs: 20, history: 10, events: 10 };
const MONEY = /^\d{1,7}(\.\d{1,2})?$/;
const INTEGER = /^\d{1,4}$/;
const ORG_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

const state = {
  token: null,
  orgsPage: 1,
  selected: null,
  historyPage: 1,
  eventsPage: 1,
  org: null,
  settingsDirty: false,
  backend: "kms",
  // A manual recharge that got no answer: retried with the same key, so it cannot charge twice.
  pendingRecharge: null,
  timer: null,
  busy: false,
};

class ApiFailure extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

// ---------- helpers ----------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function usd(v) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  const s = Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return (n < 0 ? "-$" : "$") + s;
}

function when(v) {
  if (!v) return "—";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

function uuid() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // Plain-HTTP origins have no randomUUID; getRandomValues works everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}

function setMsg(id, text, kind) {
  const node = $(id);
  node.textContent = text || "";
  node.dataset.kind = kind || "";
  delete node.dataset.from;
}

function describe(e) {
  if (e instanceof ApiFailure) return e.code ? e.message + " (" + e.code + ")" : e.message;
  return "Cannot reach the billing service: " + (e && e.message ? e.message : String(e));
}

// ---------- API ----------

async function api(method, path, body, headers) {
  if (!state.token) throw new ApiFailure(401, "unauthorized", "No admin token.");
  const init = { method, headers: Object.assign({ Authorization: "Bearer " + state.token }, headers || {}), cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    signOut("The admin token was refused (HTTP 401). Paste the ADMIN_TOKEN of this billing service.");
    throw new ApiFailure(401, "unauthorized", "The admin token was refused.", data);
  }
  if (!res.ok || !data || data.success === false) {
    const err = (data && data.error) || {};
    throw new ApiFailure(res.status, err.code || "http_" + res.status, err.message || res.statusText || "HTTP " + res.status, data);
  }
  return { status: res.status, data };
}

const orgPath = (id, rest) => "/api/organizations/" + encodeURIComponent(id) + (rest || "");

// ---------- session ----------

function signOut(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopTimer();
  $("console").hidden = true;
  $("session").hidden = true;
  $("token-form").hidden = false;
  $("message").textContent = message || "";
  document.body.dataset.state = message ? "unauthorized" : "idle";
}

function signIn(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("message").textContent = "";
  loadAll(true);
}

// ---------- organisation list ----------

function pager(prefix, page, pageSize, total) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  $(prefix + "-page").textContent = "Page " + page + " of " + pages;
  $(prefix + "-prev").disabled = page <= 1;
  $(prefix + "-next").disabled = page >= pages;
  $(prefix + "-total").textContent = "(" + total + ")";
}

async function loadOrgs() {
  const { data } = await api("GET", "/api/organizations?page=" + state.orgsPage + "&page_size=" + PAGE_SIZE.orgs);
  if (data.items.length === 0 && state.orgsPage > 1) {
    state.orgsPage -= 1;
    return loadOrgs();
  }
  $("orgs").replaceChildren(...data.items.map(orgRow));
  $("orgs-empty").hidden = data.total > 0;
  pager("orgs", data.page, data.page_size, data.total);
  state.backend = data.quota_backend || "kms";
  state.operator = data.caller === "operator";
  $("whoami").textContent = state.operator ? "the operator (every organisation)" : "an organisation member (your organisations)";
  $("create-box").hidden = !state.operator;
  $("backend").textContent = state.backend === "litellm" ? "LiteLLM (team max_budget)" : "KMS";
  const poll = data.last_poll;
  $("last-poll").textContent = poll
    ? "last pass " + when(poll.finished_at) + ": " + poll.organizations + " organisations, " + poll.recharges + " recharged, " + poll.unreachable + " unreachable, " + poll.failed + " failed"
    : "no pass yet";
}

function autoText(o) {
  if (o.auto_recharge_enabled && o.auto_recharge_paused_reason) return "Paused: " + o.auto_recharge_paused_reason;
  if (o.auto_recharge_enabled) return "On";
  return o.auto_recharge_disabled_reason ? "Off: " + o.auto_recharge_disabled_reason : "Off";
}

const autoOk = (o) => o.auto_recharge_enabled && !o.auto_recharge_paused_reason;

function cardText(pm) {
  if (!pm) return "none";
  return (pm.brand || "card") + " ·" + (pm.last4 || "????");
}

function orgRow(o) {
  const tr = document.createElement("tr");
  tr.dataset.org = o.c_organization_id;
  if (o.c_organization_id === state.selected) tr.setAttribute("aria-current", "true");
  const first = el("td");
  const open = el("button", o.c_organization_id, "link");
  open.type = "button";
  open.addEventListener("click", () => selectOrg(o.c_organization_id));
  first.appendChild(open);
  tr.append(
    first,
    el("td", usd(o.credited_total), "num"),
    el("td", o.kms_quota === null ? "not synced" : usd(o.kms_quota), "num"),
    el("td", autoText(o), autoOk(o) ? "ok" : "off"),
    el("td", cardText(o.payment_method)),
    el("td", o.role || ""),
  );
  return tr;
}

// ---------- one organisation ----------

function selectOrg(id) {
  state.selected = id;
  state.org = null;
  state.historyPage = 1;
  state.eventsPage = 1;
  state.settingsDirty = false;
  state.pendingRecharge = null;
  for (const id2 of ["detail-msg", "settings-msg", "recharge-msg", "pm-msg"]) setMsg(id2, "");
  $("recharge-amount").value = "";
  $("pm-id").value = "";
  history.replaceState(null, "", location.pathname + "#org=" + encodeURIComponent(id));
  for (const tr of $("orgs").children) {
    if (tr.dataset.org === id) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
  $("org-id").textContent = id;
  $("detail").hidden = false;
  loadOrg(true).then(() => $("detail").scrollIntoView({ block: "start" }));
}

async function loadOrg(initial) {
  const id = state.selected;
  if (!id) return;
  try {
    const [org, hist, evts, usage] = await Promise.all([
      api("GET", orgPath(id)),
      api("GET", orgPath(id, "/recharge-history?page=" + state.historyPage + "&page_size=" + PAGE_SIZE.history)),
      api("GET", orgPath(id, "/webhook-events?page=" + state.eventsPage + "&page_size=" + PAGE_SIZE.events)),
      api("GET", orgPath(id, "/usage")),
    ]);
    // The audit trail is for admins and the operator.
    const role = org.data.organization.role;
    const audit = role === "viewer" ? null : await api("GET", orgPath(id, "/audit?page=1&page_size=" + PAGE_SIZE.history));
    let usageEvents = evts.data.items;
    if (state.eventsPage !== 1) {
      usageEvents = (await api("GET", orgPath(id, "/webhook-events?page=1&page_size=20"))).data.items;
    }
    if (state.selected !== id) return;
    renderOrg(org.data.organization, usageEvents);
    renderUsage(usage.data);
    renderAudit(audit && audit.data);
    renderPending(hist.data.items);
    renderHistory(hist.data);
    renderEvents(evts.data);
    // A failed refresh's message goes once a refresh works again; an action's stays.
    if (initial || $("detail-msg").dataset.from === "refresh") setMsg("detail-msg", "");
  } catch (e) {
    if (state.selected !== id || e.status === 401) return;
    if (e.status === 404) {
      $("detail").hidden = true;
      state.selected = null;
      history.replaceState(null, "", location.pathname);
      $("message").textContent = "Organisation " + id + " was not found.";
      return;
    }
    setMsg("detail-msg", describe(e), "error");
    $("detail-msg").dataset.from = "refresh";
    throw e;
  }
}

function lastUsage(events) {
  for (const e of events) {
    const p = e.payload;
    if (!p || typeof p !== "object") continue;
    // A limit webhook's current_usage, or a LiteLLM alert's spend.
    if (typeof p.current_usage === "number") return { usage: p.current_usage, at: e.received_at };
    if (e.source === "litellm_alert" && typeof p.spend === "number") return { usage: p.spend, at: e.received_at };
  }
  return null;
}

function renderOrg(o, events) {
  state.org = o;
  applyRole(o.role);
  $("org-id").textContent = o.c_organization_id;
  const usage = lastUsage(events);
  if (o.kms_quota === null) {
    $("f-balance").textContent = "—";
    $("f-balance-sub").textContent = "not synced to the quota backend";
  } else if (usage) {
    $("f-balance").textContent = usd(Math.round((o.kms_quota - usage.usage) * 100) / 100);
    $("f-balance-sub").textContent = "quota − usage " + usd(usage.usage) + " reported " + when(usage.at);
  } else {
    $("f-balance").textContent = usd(o.kms_quota);
    $("f-balance-sub").textContent = "quota; no usage reported yet";
  }
  $("f-credited").textContent = usd(o.credited_total);
  $("f-pending").textContent = Number(o.pending_credit) > 0 ? usd(o.pending_credit) + " on its way" : "nothing pending";
  $("f-backend").textContent = o.quota_backend === "litellm" ? "LiteLLM team budget" : "KMS";
  $("f-quota").textContent = o.kms_quota === null ? "not synced" : usd(o.kms_quota);
  let quotaSub = o.kms_synced_at ? "synced " + when(o.kms_synced_at) : "never synced";
  if (o.kms_quota !== null && Number(o.kms_quota) !== Number(o.credited_total)) quotaSub += " · differs from credited total";
  $("f-quota-sub").textContent = quotaSub;
  $("f-quota").parentElement.dataset.status = o.kms_quota === null ? "warn" : Number(o.kms_quota) === Number(o.credited_total) ? "ok" : "warn";
  const paused = o.auto_recharge_enabled && o.auto_recharge_paused_reason;
  $("f-auto").textContent = paused ? "Paused" : o.auto_recharge_enabled ? "On" : "Off";
  $("f-auto").parentElement.dataset.status = autoOk(o) ? "ok" : "warn";
  $("f-auto-sub").textContent = paused
    ? o.auto_recharge_paused_reason
    : o.auto_recharge_enabled
      ? "below " + usd(o.minimum_balance) + " → up to " + usd(o.target_balance)
      : o.auto_recharge_disabled_reason || "switched off";
  const cap = o.max_monthly_recharge_amount;
  $("f-month").textContent = usd(o.automatic_recharged_this_month);
  $("f-month-sub").textContent = cap === null || cap === undefined ? "no monthly cap" : "of a " + usd(cap) + " cap (UTC month)";
  $("f-month").parentElement.dataset.status = cap !== null && cap !== undefined && Number(o.automatic_recharged_this_month) >= Number(cap) ? "warn" : "";
  $("f-card").textContent = cardText(o.payment_method);
  $("f-card-sub").textContent = o.payment_method ? o.payment_method.id : "add one below";
  $("f-failures").textContent = String(o.consecutive_payment_failures);
  $("f-team").textContent = o.litellm_team_id || "— (not synced yet)";
  $("f-customer").textContent = o.stripe_customer_id || "—";
  $("f-created").textContent = when(o.created_at);
  $("f-updated").textContent = when(o.updated_at);

  const sw = $("auto-switch");
  if (!sw.dataset.busy) {
    // The attribute too: what the switch shows is then in the DOM (and its dumps).
    sw.checked = !!o.auto_recharge_enabled;
    sw.defaultChecked = !!o.auto_recharge_enabled;
    sw.setAttribute("aria-checked", String(!!o.auto_recharge_enabled));
  }
  $("auto-switch-label").textContent = "Auto-recharge " + (o.auto_recharge_enabled ? "on" : "off");
  const reason = $("auto-reason");
  reason.textContent = o.auto_recharge_disabled_reason ? "Disabled: " + o.auto_recharge_disabled_reason : "";
  reason.hidden = !o.auto_recharge_disabled_reason;
  $("pause-reason").textContent = o.auto_recharge_paused_reason ? "Paused: " + o.auto_recharge_paused_reason + " (switch auto-recharge on again to resume)" : "";
  $("pause-reason").hidden = !o.auto_recharge_paused_reason;

  const form = $("settings-form");
  const focused = form.contains(document.activeElement) && document.activeElement.tagName === "INPUT" && document.activeElement !== sw;
  if (!state.settingsDirty && !focused) {
    form.elements.minimum_balance.value = moneyInput(o.minimum_balance);
    form.elements.target_balance.value = moneyInput(o.target_balance);
    form.elements.minimum_recharge_amount.value = moneyInput(o.minimum_recharge_amount);
    form.elements.max_daily_recharges.value = String(o.max_daily_recharges);
    form.elements.max_monthly_recharge_amount.value = cap === null || cap === undefined ? "" : moneyInput(cap);
  }
}

function renderUsage(u) {
  $("f-usage").textContent = usd(u.usage);
  $("f-usage-sub").textContent = u.usage_read_at
    ? u.month + ", latest reading " + when(u.usage_read_at) + "; recharged " + usd(u.recharged_total)
    : u.month + ": no usage reading yet";
}

function renderAudit(page) {
  $("audit-box").hidden = !page;
  if (!page) return;
  $("audit").replaceChildren(...page.items.map((a) => {
    const tr = document.createElement("tr");
    const changes = Object.entries(a.changes || {}).map(([k, v]) =>
      v && typeof v === "object" && "old" in v ? k + ": " + JSON.stringify(v.old) + " → " + JSON.stringify(v.new) : k + ": " + JSON.stringify(v));
    tr.append(el("td", when(a.created_at)), el("td", a.actor, "mono"), el("td", a.action), el("td", changes.join("; "), "details"));
    return tr;
  }));
  if (page.items.length === 0) $("audit").appendChild(emptyRow(4, "No change yet."));
  $("audit-total").textContent = "(" + page.total + ")";
}

// A viewer sees everything but may change nothing: the write controls are not shown.
function applyRole(role) {
  const viewer = role === "viewer";
  document.body.dataset.role = role || "";
  for (const id of ["recharge-form", "pm-form", "sync"]) $(id).hidden = viewer;
  const settings = $("settings-form");
  settings.querySelector("button[type=submit]").hidden = viewer;
  for (const input of settings.querySelectorAll("input")) {
    if (input.dataset.busy) continue;
    input.disabled = viewer;
  }
}

// Recharges waiting for the holder's 3DS, with what they must do and until when.
function renderPending(items) {
  const now = Date.now();
  const waiting = items.filter((r) => r.status === "requires_action" && (!r.action_expires_at || new Date(r.action_expires_at).getTime() > now));
  $("pending-3ds-list").replaceChildren(...waiting.map((r) => {
    const next = r.next_action || {};
    const li = el("li", usd(r.total_charge) + " · " + (r.payment_intent_id || "no payment intent") + " · until " + when(r.action_expires_at) + ": " + (next.message || r.failure_message || "the card holder must authenticate"));
    li.dataset.recharge = r.id;
    return li;
  }));
  $("pending-3ds").hidden = waiting.length === 0;
}

function moneyInput(v) {
  const n = Number(v);
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function renderHistory(page) {
  $("history").replaceChildren(...page.items.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.status = r.status;
    const details = [shortId(r.id)];
    if (r.failure_code || r.failure_message) details.push([r.failure_code, r.failure_message].filter(Boolean).join(": "));
    if (r.refund_id) details.push("refund " + r.refund_id);
    if (Number(r.refunded_amount) > 0) details.push("refunded in Stripe " + usd(r.refunded_amount));
    if (r.disputed_at) details.push("disputed " + when(r.disputed_at));
    if (r.payment_intent_id) details.push(r.payment_intent_id);
    if (r.completed_at) details.push("done " + when(r.completed_at));
    tr.append(
      el("td", when(r.created_at)),
      el("td", usd(r.amount), "num"),
      el("td", usd(r.fee), "num"),
      el("td", usd(r.total_charge), "num"),
      el("td", r.status, "status s-" + r.status),
      el("td", r.triggered_by),
      el("td", details.join(" · "), "details"),
    );
    tr.lastChild.title = String(r.id);
    return tr;
  }));
  if (page.items.length === 0) $("history").appendChild(emptyRow(7, "No recharge yet."));
  pager("history", page.page, page.page_size, page.total);
}

function renderEvents(page) {
  $("events").replaceChildren(...page.items.map((e) => {
    const tr = document.createElement("tr");
    const id = el("td");
    id.append(el("span", e.event_id, "mono"), el("span", [e.source, e.event_type].filter(Boolean).join(" · "), "sub"));
    tr.append(
      el("td", when(e.received_at)),
      id,
      el("td", e.action || "—"),
      el("td", e.http_status === null || e.http_status === undefined ? "—" : e.http_status, "num"),
      el("td", e.status, "status s-" + e.status),
      rechargeCell(e.recharge_id),
    );
    return tr;
  }));
  if (page.items.length === 0) $("events").appendChild(emptyRow(6, "No webhook event yet."));
  pager("events", page.page, page.page_size, page.total);
}

// Recharge ids are UUIDs: the first 8 characters name one, the cell's title holds it all.
function shortId(id) {
  const s = String(id);
  return "#" + (s.length > 12 ? s.slice(0, 8) : s);
}

function rechargeCell(id) {
  if (id === null || id === undefined) return el("td", "—");
  const td = el("td", shortId(id), "mono");
  td.title = String(id);
  return td;
}

function emptyRow(cols, text) {
  const tr = document.createElement("tr");
  const td = el("td", text, "muted");
  td.colSpan = cols;
  tr.appendChild(td);
  return tr;
}

// ---------- actions ----------

async function action(button, msgId, run) {
  if (button.disabled) return;
  button.disabled = true;
  setMsg(msgId, "Working…", "");
  try {
    await run();
  } catch (e) {
    if (e.status !== 401) setMsg(msgId, describe(e), "error");
  } finally {
    button.disabled = false;
  }
}

async function afterChange() {
  await Promise.all([loadOrg(false).catch(() => {}), loadOrgs().catch(() => {})]);
  stamp();
}

function readSettings(form) {
  const out = {};
  for (const name of ["minimum_balance", "target_balance", "minimum_recharge_amount"]) {
    const v = form.elements[name].value.trim();
    if (v === "") continue;
    if (!MONEY.test(v)) throw new ApiFailure(0, "invalid_amount", name.replace(/_/g, " ") + ": enter dollars, e.g. 100 or 12.50");
    out[name] = v;
  }
  const monthly = form.elements.max_monthly_recharge_amount;
  if (monthly) {
    const v = monthly.value.trim();
    if (v !== "" && !MONEY.test(v)) throw new ApiFailure(0, "invalid_amount", "max automatic $ / month: enter dollars, or leave it empty for no cap");
    // Empty means no cap: sent as null, which removes one.
    out.max_monthly_recharge_amount = v === "" ? null : v;
  }
  const daily = form.elements.max_daily_recharges.value.trim();
  if (daily !== "") {
    if (!INTEGER.test(daily)) throw new ApiFailure(0, "invalid_settings", "max recharges per day: enter a whole number");
    out.max_daily_recharges = Number(daily);
  }
  return out;
}

function saveSettings(e) {
  e.preventDefault();
  const form = $("settings-form");
  const id = state.selected;
  action(form.querySelector("button[type=submit]"), "settings-msg", async () => {
    const body = readSettings(form);
    if (body.minimum_balance && body.target_balance && Number(body.minimum_balance) > Number(body.target_balance)) {
      throw new ApiFailure(0, "invalid_settings", "The minimum balance must not exceed the target balance");
    }
    await api("PATCH", orgPath(id), body);
    state.settingsDirty = false;
    // The message comes once the page is redrawn, when the button works again: a second
    // change made as soon as "Saved." shows is not lost to a still-disabled button.
    await afterChange();
    setMsg("settings-msg", "Saved.", "ok");
  });
}

function toggleAuto() {
  const sw = $("auto-switch");
  const want = sw.checked;
  const id = state.selected;
  sw.dataset.busy = "1";
  sw.disabled = true;
  setMsg("settings-msg", "Working…", "");
  api("PATCH", orgPath(id), { auto_recharge_enabled: want })
    .then(() => { setMsg("settings-msg", "Auto-recharge " + (want ? "on." : "off."), "ok"); })
    .catch((e) => {
      sw.checked = !want;
      if (e.status !== 401) setMsg("settings-msg", describe(e), "error");
    })
    .finally(() => {
      delete sw.dataset.busy;
      sw.disabled = false;
      afterChange();
    });
}

function savePaymentMethod(e) {
  e.preventDefault();
  const form = $("pm-form");
  const id = state.selected;
  action(form.querySelector("button[type=submit]"), "pm-msg", async () => {
    const pm = $("pm-id").value.trim();
    if (!pm) throw new ApiFailure(0, "invalid_payment_method", "Enter a Stripe payment method id (pm_…)");
    const { data } = await api("POST", orgPath(id, "/payment-method"), { payment_method_id: pm, set_as_default: true });
    const card = data.payment_method || (data.organization && data.organization.payment_method);
    $("pm-id").value = "";
    await afterChange();
    setMsg("pm-msg", "Saved: " + cardText(card) + ".", "ok");
  });
}

function syncKms() {
  const id = state.selected;
  action($("sync"), "detail-msg", async () => {
    const { data } = await api("POST", orgPath(id, "/sync"));
    const quota = data.kms && data.kms.quota !== undefined ? data.kms.quota : data.organization.kms_quota;
    await afterChange();
    setMsg("detail-msg", "Synced to " + (state.backend === "litellm" ? "LiteLLM" : "the KMS") + ": quota " + usd(quota) + ".", "ok");
  });
}

function recharge(e) {
  e.preventDefault();
  const form = $("recharge-form");
  const id = state.selected;
  const amount = $("recharge-amount").value.trim();
  if (!MONEY.test(amount) || Number(amount) <= 0) {
    setMsg("recharge-msg", "Enter an amount in dollars, e.g. 100 or 12.50.", "error");
    return;
  }
  const retry = state.pendingRecharge && state.pendingRecharge.org === id && state.pendingRecharge.amount === amount;
  if (!retry && !window.confirm("Charge the card of " + id + " for " + usd(amount) + " plus fees and credit it?")) return;
  const key = retry ? state.pendingRecharge.key : uuid();
  state.pendingRecharge = { org: id, amount, key };
  action(form.querySelector("button[type=submit]"), "recharge-msg", async () => {
    let res;
    try {
      res = await api("POST", orgPath(id, "/recharge"), { amount }, { "Idempotency-Key": key });
    } catch (err) {
      if (err instanceof ApiFailure) {
        state.pendingRecharge = null;
        throw err;
      }
      // No answer: the charge may or may not have happened; the same key makes a retry safe.
      throw new Error(((err && err.message) || "network error") + ". Press again to retry this same recharge safely (same Idempotency-Key).");
    }
    state.pendingRecharge = null;
    const r = res.data.recharge || {};
    await afterChange();
    if (res.status === 202) {
      setMsg("recharge-msg", "Processing: the payment is not settled yet; the history shows the outcome.", "");
    } else {
      setMsg("recharge-msg", "Recharged " + usd(res.data.recharged_amount !== undefined ? res.data.recharged_amount : r.amount) + " (charged " + usd(r.total_charge) + ").", "ok");
      $("recharge-amount").value = "";
    }
  });
}

function createOrg(e) {
  e.preventDefault();
  const form = $("create-form");
  action(form.querySelector("button[type=submit]"), "create-msg", async () => {
    const id = form.elements.c_organization_id.value.trim();
    if (!ORG_ID.test(id)) throw new ApiFailure(0, "invalid_organization_id", "Organisation id: 1-128 characters of A-Z a-z 0-9 _ . : -");
    const body = Object.assign({ c_organization_id: id, auto_recharge_enabled: form.elements.auto_recharge_enabled.checked }, readSettings(form));
    const team = form.elements.litellm_team_id.value.trim();
    if (team) body.litellm_team_id = team;
    if (body.max_monthly_recharge_amount === null) delete body.max_monthly_recharge_amount;
    await api("POST", "/api/organizations", body);
    setMsg("create-msg", "Created " + id + ".", "ok");
    form.elements.c_organization_id.value = "";
    await loadOrgs();
    selectOrg(id);
  });
}

// ---------- refresh ----------

function stamp() {
  $("refreshed").textContent = "Updated " + new Date().toLocaleTimeString();
}

async function loadAll(initial) {
  if (!state.token) return;
  if (initial) document.body.dataset.state = "loading";
  try {
    await loadOrgs();
    $("token-form").hidden = true;
    $("session").hidden = false;
    $("console").hidden = false;
    if (state.selected) {
      $("org-id").textContent = state.selected;
      $("detail").hidden = false;
      await loadOrg(initial);
    }
    $("message").textContent = "";
    stamp();
    document.body.dataset.state = "loaded";
    startTimer();
  } catch (e) {
    if (e.status === 401) return;
    $("message").textContent = describe(e);
    if (initial) document.body.dataset.state = "error";
    startTimer();
  }
}

function startTimer() {
  stopTimer();
  if (!$("auto-refresh").checked) return;
  state.timer = setInterval(() => {
    if (document.hidden || state.busy) return;
    state.busy = true;
    loadAll(false).finally(() => { state.busy = false; });
  }, REFRESH_MS);
}

function stopTimer() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

// ---------- start ----------

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (t) signIn(t);
  });
  $("forget").addEventListener("click", () => signOut(""));
  $("auto-refresh").addEventListener("change", startTimer);
  $("orgs-reload").addEventListener("click", () => loadOrgs().then(stamp).catch((e) => { $("message").textContent = describe(e); }));
  $("org-reload").addEventListener("click", () => loadOrg(false).then(stamp).catch(() => {}));
  const page = (key, delta, load) => () => { state[key] = Math.max(1, state[key] + delta); load().catch(() => {}); };
  $("orgs-prev").addEventListener("click", page("orgsPage", -1, loadOrgs));
  $("orgs-next").addEventListener("click", page("orgsPage", 1, loadOrgs));
  $("history-prev").addEventListener("click", page("historyPage", -1, () => loadOrg(false)));
  $("history-next").addEventListener("click", page("historyPage", 1, () => loadOrg(false)));
  $("events-prev").addEventListener("click", page("eventsPage", -1, () => loadOrg(false)));
  $("events-next").addEventListener("click", page("eventsPage", 1, () => loadOrg(false)));
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-form").addEventListener("input", (e) => { if (e.target !== $("auto-switch")) state.settingsDirty = true; });
  $("auto-switch").addEventListener("change", toggleAuto);
  $("pm-form").addEventListener("submit", savePaymentMethod);
  $("sync").addEventListener("click", syncKms);
  $("recharge-form").addEventListener("submit", recharge);
  $("create-form").addEventListener("submit", createOrg);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.token && $("auto-refresh").checked) loadAll(false); });

  // A token may arrive once in the fragment (never sent to the server or in a Referer):
  // it moves to sessionStorage and leaves the address bar and history at once.
  const hash = new URLSearchParams(location.hash.slice(1));
  // `access_token` is how Supabase hands a session over in a fragment.
  const fromFragment = hash.get("token") || hash.get("access_token");
  const org = hash.get("org");
  if (org && ORG_ID.test(org)) state.selected = org;
  if (fromFragment) sessionStorage.setItem(TOKEN_KEY, fromFragment);
  history.replaceState(null, "", location.pathname + (state.selected ? "#org=" + encodeURIComponent(state.selected) : ""));
  // The handlers are attached: tests (and scripts driving the page) wait for this, because
  // the static `data-state="idle"` is there before the script runs.
  document.body.dataset.ready = "true";
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
});
