// Tollgate usage page: the key stays in this browser (form field or URL fragment, never
// sent anywhere but as the Authorization header to this service).
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};

// The browser's own IANA zone, first and selected; then UTC and every zone the browser knows.
function fillZones(preferred) {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const all = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zones = [...new Set([preferred || own, own, "UTC", ...all])];
  $("tz").replaceChildren(...zones.map((z) => {
    const option = document.createElement("option");
    option.value = z;
    option.textContent = z === own ? z + " (this browser)" : z;
    return option;
  }));
  $("tz").value = preferred || own;
}

// A fixed range from the fragment (`start`, `end`: unix seconds), else the last N days.
let fixedRange = null;

function query() {
  const days = Number($("days").value);
  const end = fixedRange ? fixedRange.end : Math.floor(Date.now() / 1000);
  const start = fixedRange ? fixedRange.start : end - days * 86400;
  return "?start=" + start + "&end=" + end + "&tz=" + encodeURIComponent($("tz").value);
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
    const when = new Date(l.created_at * 1000).toLocaleString("en-US", { timeZone: detail.range.tz, timeZoneName: "short" });
    const cells = [when, l.model_name, int(l.tokens), usd(l.quota_usd), String(l.use_time)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i >= 2) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
  $("zone-used").textContent = detail.range.tz;
  $("report").hidden = false;
}

// The key travels in the Authorization header, so the file is fetched, then saved.
async function downloadCsv() {
  const key = $("key").value.trim();
  if (!key) return;
  $("csv-status").textContent = "Preparing…";
  try {
    const res = await fetch("/api/usage/token/logs.csv" + query(), { headers: { Authorization: "Bearer " + key } });
    if (!res.ok) throw new Error("The export failed (" + res.status + ").");
    const blob = await res.blob();
    const name = (/filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "") || [])[1] || "usage.csv";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    $("csv-status").textContent = "Saved " + name + ".";
  } catch (e) {
    $("csv-status").textContent = e.message;
  }
}

async function load() {
  const key = $("key").value.trim();
  if (!key) return;
  document.body.dataset.state = "loading";
  $("message").textContent = "";
  try {
    render(await getJson("/api/usage/token/detail" + query(), key));
    document.body.dataset.state = "loaded";
  } catch (e) {
    $("report").hidden = true;
    $("message").textContent = e.message;
    document.body.dataset.state = "error";
  }
}

// `#key=sk-…` opens the page on a key (then leaves the address bar); `days`, `tz`, and a
// fixed `start`/`end` may come along.
document.addEventListener("DOMContentLoaded", () => {
  const fragment = new URLSearchParams(location.hash.slice(1));
  fillZones(fragment.get("tz"));
  if (["7", "30", "90"].includes(fragment.get("days"))) $("days").value = fragment.get("days");
  const [start, end] = [Number(fragment.get("start")), Number(fragment.get("end"))];
  if (Number.isInteger(start) && Number.isInteger(end) && start > 0 && start <= end) fixedRange = { start, end };
  $("form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("tz").addEventListener("change", () => { if ($("key").value.trim()) load(); });
  $("days").addEventListener("change", () => { fixedRange = null; if ($("key").value.trim()) load(); });
  $("csv").addEventListener("click", downloadCsv);
  if (fragment.get("key")) {
    $("key").value = fragment.get("key");
    history.replaceState(null, "", location.pathname);
    load();
  }
});
