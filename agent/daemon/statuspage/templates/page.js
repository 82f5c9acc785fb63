"use strict";
(function () {
  var D = JSON.parse(document.getElementById("dx-data").textContent), W = D.words;
  var SEV = {CRIT: 0, UNKNOWN: 1, WARN: 2, OK: 3, PENDING: 4}, timer = null, fast = 0, loaded = Date.now();
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ts) {  /* the agent's local time, as the server writes it */
    if (!ts) return "\u2014";
    var d = new Date((ts + D.tz) * 1000), t = new Date((Date.now() / 1000 + D.tz) * 1000);
    var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    return d.getUTCDate() === t.getUTCDate() && d.getUTCMonth() === t.getUTCMonth() && d.getUTCFullYear() === t.getUTCFullYear()
      ? hm + ":" + pad(d.getUTCSeconds()) : pad(d.getUTCDate()) + "/" + pad(d.getUTCMonth() + 1) + " " + hm;
  }
  function took(s) { var t = s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(1) + " s"; return D.lang === "vi" ? t.replace(".", ",") : t; }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.check")); }
  function setText(row, sel, text) { var e = row.querySelector(sel); e.textContent = text; e.hidden = !text; }
  function apply(doc) {
    var byKey = {}, now = doc.generated_at;
    doc.results.forEach(function (r) { byKey[r.id + " " + r.target] = r; });
    ["OK", "WARN", "CRIT", "UNKNOWN"].forEach(function (s) { var n = $("n-" + s); if (n) n.textContent = doc.counts[s]; });
    var problems = [], all = rows(), matched = 0;
    all.forEach(function (row) {
      var r = byKey[row.dataset.check + " " + row.dataset.target];
      if (!r) return;
      matched++;
      if (row.dataset.status !== r.status) { row.dataset.since = r.started; row.dataset.status = r.status; }
      var stale = now - (r.started + r.duration_seconds) > D.stale_n * parseFloat(row.dataset.interval);
      row.className = "check st-" + r.status + (stale ? " stale" : "");
      row.querySelector(".word").textContent = W[r.status];
      setText(row, ".summary", r.summary);
      setText(row, ".hint", r.hint && r.status !== "OK" ? W.what_to_do + ": " + r.hint : "");
      setText(row, ".title", r.details && typeof r.details.title === "string" ? W.page_title + ": \u00ab" + r.details.title + "\u00bb" : "");
      row.querySelector(".stale-text").textContent = stale ? W.stale : "";
      row.querySelector("time").textContent = clock(r.started);
      row.querySelector(".took").textContent = took(r.duration_seconds);
      if (r.status !== "OK" || stale) problems.push({row: row, r: r, stale: stale});
    });
    problems.sort(function (a, b) { return SEV[a.r.status] - SEV[b.r.status] || a.row.dataset.order - b.row.dataset.order; });
    var list = $("problem-list");
    list.textContent = "";
    problems.forEach(function (p) {
      var li = el("li", "problem st-" + p.r.status + (p.stale ? " stale" : ""));
      li.appendChild(el("span", "badge", W[p.r.status]));
      if (p.stale) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "badge stale-badge", W.stale)); }
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("strong", "cid", p.r.id));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "tg", p.r.target));
      li.appendChild(el("div", "summary", p.r.summary));
      if (p.r.hint && p.r.status !== "OK") { var h = el("div", "hint"); h.appendChild(el("b", "", W.what_to_do + ":")); h.appendChild(document.createTextNode(" " + p.r.hint)); li.appendChild(h); }
      if (p.row.dataset.since && p.r.status !== "OK" && +p.row.dataset.since > 0) li.appendChild(el("div", "since", W.since + " " + clock(+p.row.dataset.since)));
      list.appendChild(li);
    });
    $("no-problems").hidden = problems.length > 0;
    /* Checks or targets added or removed (a config reload): the rows are the server's to lay out. */
    if (matched !== doc.results.length && Date.now() - loaded > 60000) location.reload();
    $("updated").textContent = clock(now);
    $("offline").hidden = true;
  }
  function refresh() {
    fetch("/api/results?lang=" + D.lang, {cache: "no-store", credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); })
      .then(apply)
      .catch(function () { var o = $("offline"); o.textContent = W.offline; o.hidden = false; })
      .then(schedule);
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, fast > 0 ? (fast--, 2000) : 15000); }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList.contains("run")) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {method: "POST", credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (res) { return res.json(); })
      .then(function (doc) {
        var n = $("notice");
        n.textContent = doc.message;
        n.hidden = false;
        fast = 8;
        schedule();
      })
      .catch(function () { var o = $("offline"); o.textContent = W.offline; o.hidden = false; })
      .then(function () { setTimeout(function () { button.disabled = false; }, 3000); });
  });
  schedule();
})();
