// The console's shared script: local times, and the feed's live updates.
// Item data is hostile input: it is only ever inserted with textContent and DOM APIs.
"use strict";

(function () {
  const zoneNames = [["Asia/Seoul", "KST"], ["Asia/Tokyo", "JST"], ["UTC", "UTC"]];

  function formatIn(date, zone) {
    return new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(date).replace(",", "");
  }

  // <time class="local" datetime="ISO">: shown in the browser's time zone, KST/JST/UTC on hover
  function localise(root) {
    const local = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    for (const el of root.querySelectorAll("time.local[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      el.textContent = local.format(date);
      el.title = zoneNames.map(([zone, name]) => formatIn(date, zone) + " " + name).join(" · ");
    }
  }

  function timeElement(iso) {
    const el = document.createElement("time");
    el.className = "local";
    el.setAttribute("datetime", iso);
    el.textContent = iso;
    return el;
  }

  function text(tag, className, value) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = value;
    return el;
  }

  const allowedMarks = new Set(["mark-ts", "mark-s", "mark-c"]);

  function banner(mark, extra) {
    const css = allowedMarks.has(mark.css) ? mark.css : "mark-s";
    return text("p", "banner " + (extra ? extra + " " : "") + css, String(mark.text));
  }

  // One feed entry, built as the server builds it in feed.html
  function entryNode(e) {
    const li = document.createElement("li");
    li.className = "entry entry-new";
    li.dataset.seq = String(e.seq);
    li.append(banner(e.original, ""), banner(e.mine, "banner-mine"));
    const h2 = document.createElement("h2");
    h2.className = "entry-title";
    const a = document.createElement("a");
    a.href = String(e.url).startsWith("/console/items/") ? e.url : "#";
    a.textContent = String(e.name);
    h2.append(a);
    li.append(h2);
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.append(
      text("span", "origin", e.received ? "Received from " + e.originator
                                        : "Originated here (" + e.originator + ")"),
      document.createTextNode(" · "),
      text("span", "type", String(e.type)),
      document.createTextNode(" · added "),
      timeElement(String(e.date_added)),
    );
    li.append(meta);
    if (e.launch) li.append(text("p", "launch", String(e.launch)));
    if (e.summary) li.append(text("p", "summary", String(e.summary)));
    return li;
  }

  function live() {
    const status = document.getElementById("live-status");
    const feed = document.getElementById("feed");
    if (!status || !feed || status.dataset.live !== "on" || !window.EventSource) return;
    const source = new EventSource(status.dataset.events);
    source.addEventListener("item", (event) => {
      let entry;
      try { entry = JSON.parse(event.data); } catch (_) { return; }
      if (feed.querySelector('li[data-seq="' + Number(entry.seq) + '"]')) return;
      const empty = document.getElementById("feed-empty");
      if (empty) empty.remove();
      const node = entryNode(entry);
      feed.prepend(node);
      localise(node);
      status.textContent = "Live: new item from " + entry.originator + ": " + entry.name;
    });
    source.addEventListener("open", () => { status.classList.remove("offline"); });
    source.addEventListener("error", () => { status.classList.add("offline"); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    localise(document);
    live();
  });
})();
