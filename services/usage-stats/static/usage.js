// Tollgate usage page: the key stays in this browser (form field or URL fragment, never
// sent anywhere but as the Authorization header to this service).
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};

function tzOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return sign + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
}

async function getJson(path, key) {
  const res = await fetch(path, { headers: { Authorization: "Bearer " + key } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const message = (body.error && body.error.message) || res.statusText;
    throw new Error(res.status === 401 ? "This key is not valid (unknown, disabled, expired or deleted)." :
      res.status === 429 ? "Too many requests: retry in " + (res.headers.get("Retry-After") || "a few") + " s." : message);
  }
  return body.data;
}

const usd = (v) => "$" + Number(v).toFixed(v >= 100 ? 2 : 4);
const int = (v) => Number(v).toLocaleString("en-US");

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(id), config);
}

function render(detail) {
  const s = detail.summary;
  $("spent").textContent = usd(s.total_quota_usd);
  $("quota").textContent = int(s.total_quota) + " quota";
  $("requests").textContent = int(s.total_requests);
  $("tokens").textContent = int(s.total_tokens);
  $("latency").textContent = (s.avg_latency_ms / 1000).toFixed(2) + " s";
  draw("by-day", {
    type: "bar",
    data: { labels: detail.by_day.map((d) => d.date), datasets: [{ label: "USD", data: detail.by_day.map((d) => d.quota_usd), backgroundColor: "#2f6fed" }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
  });
  draw("by-model", {
    type: "doughnut",
    data: { labels: detail.by_model.map((m) => m.model_name), datasets: [{ data: detail.by_model.map((m) => m.quota) }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
  });
  const rows = $("logs");
  rows.replaceChildren(...detail.recent_logs.map((l) => {
    const tr = document.createElement("tr");
    const cells = [new Date(l.created_at * 1000).toLocaleString(), l.model_name, int(l.tokens), usd(l.quota_usd), String(l.use_time)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i >= 2) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
  $("report").hidden = false;
}

async function load() {
  const key = $("key").value.trim();
  if (!key) return;
  const days = Number($("days").value);
  const end = Math.floor(Date.now() / 1000);
  const start = end - days * 86400;
  const query = "?start=" + start + "&end=" + end + "&tz=" + encodeURIComponent(tzOffset());
  document.body.dataset.state = "loading";
  $("message").textContent = "";
  try {
    render(await getJson("/api/usage/token/detail" + query, key));
    document.body.dataset.state = "loaded";
  } catch (e) {
    $("report").hidden = true;
    $("message").textContent = e.message;
    document.body.dataset.state = "error";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromFragment) {
    $("key").value = fromFragment;
    history.replaceState(null, "", location.pathname);
    load();
  }
});
