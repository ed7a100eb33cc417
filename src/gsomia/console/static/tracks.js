// The Tracks page's live map: each update of the console's track stream is drawn as it arrives
// (the path as polylines, one per run of one sensor party; the launch point; the latest
// predicted impact ellipse; the warning). The server computes every coordinate in map pixels
// and every word of the warning; this script only sets numbers as SVG attributes (checked
// finite) and text with textContent. Without scripts the page shows the tracks as rendered.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const TRACK_ID = /^track--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const PARTY = /^[A-Z]{3}$/;
  const MARKS = new Set(["mark-ts", "mark-s", "mark-c"]);
  const tracks = new Map(); // track id -> its drawing and card

  function num(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error("not a number");
    return n;
  }

  function svg(tag, cls) {
    const el = document.createElementNS(SVG, tag);
    if (cls) el.setAttribute("class", cls);
    return el;
  }

  function dot(el, p, r) {
    el.setAttribute("cx", String(num(p.x)));
    el.setAttribute("cy", String(num(p.y)));
    el.setAttribute("r", String(r));
  }

  function points(list) {
    return list.map((p) => num(p[0]) + "," + num(p[1])).join(" ");
  }

  function text(tag, cls, value) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = String(value);
    return el;
  }

  function fixed(value, digits) {
    return num(value).toFixed(digits);
  }

  function whole(value) {
    return Math.round(num(value)).toLocaleString("en");
  }

  function banner(mark, extra) {
    const css = mark && MARKS.has(mark.css) ? mark.css : "mark-s";
    return text("p", "banner " + (extra ? extra + " " : "") + css, mark ? mark.text : "");
  }

  function card(u) {
    const li = document.createElement("li");
    li.className = "card track-card";
    li.dataset.track = u.track;
    li.append(banner(u.marking && u.marking.original, ""),
              banner(u.marking && u.marking.mine, "banner-mine"),
              text("h3", "track-id", u.track));
    const synth = text("p", "synth-mark", document.getElementById("track-synth").textContent);
    synth.hidden = true;
    li.append(synth);
    const dl = document.createElement("dl");
    dl.className = "facts";
    const fields = {};
    for (const [name, cls] of [["Originator", "track-originator"], ["Phase", "track-phase"],
                               ["Update", "track-seq"], ["Position", "track-position"],
                               ["Predicted impact", "track-impact-text"], ["Route", "track-route"],
                               ["Sensors", "track-sensors"]]) {
      const dd = text("dd", cls, "");
      dl.append(text("dt", "", name), dd);
      fields[cls] = dd;
    }
    li.append(dl);
    return { li, synth, fields };
  }

  function newTrack(u) {
    const layer = document.getElementById("track-layer");
    for (const old of layer.querySelectorAll("g.track")) {
      if (old.dataset.track === u.track) old.remove(); // the server's drawing: redrawn live
    }
    const group = svg("g", "track");
    group.dataset.track = u.track;
    const ellipse = svg("polygon", "track-ellipse");
    const impact = svg("circle", "track-impact");
    const paths = svg("g", "track-paths");
    const launch = svg("circle", "track-launch");
    const head = svg("circle", "track-head");
    group.append(ellipse, impact, paths, launch, head);
    layer.append(group);
    const c = card(u);
    const list = document.getElementById("track-list");
    let replaced = false;
    for (const old of list.querySelectorAll("li.track-card")) {
      if (old.dataset.track === u.track) { old.replaceWith(c.li); replaced = true; }
    }
    if (!replaced) list.prepend(c.li);
    const empty = document.getElementById("tracks-empty");
    if (empty) empty.hidden = true;
    const state = { group, ellipse, impact, paths, launch, head, card: c, runs: [],
                    sensors: new Set(), last: 0, lastPoint: null, said: "" };
    tracks.set(u.track, state);
    return state;
  }

  function extend(state, u) {
    const party = PARTY.test(u.party) ? u.party : "XXX";
    const point = [num(u.position.x), num(u.position.y)];
    let run = state.runs[state.runs.length - 1];
    if (!run || run.party !== party) {
      run = { party, line: svg("polyline", "track-path sensor-" + party),
              points: state.lastPoint ? [state.lastPoint] : [] };
      state.paths.append(run.line);
      state.runs.push(run);
    }
    run.points.push(point);
    run.line.setAttribute("points", points(run.points));
    state.lastPoint = point;
    state.sensors.add(party);
  }

  function warn(u) {
    const box = document.getElementById("track-warnings");
    let line = null;
    for (const p of box.querySelectorAll("p.track-warning")) {
      if (p.dataset.track === u.track) line = p;
    }
    if (!u.warning) {
      if (line) line.remove();
      return;
    }
    if (!line) {
      line = text("p", "track-warning", "");
      line.dataset.track = u.track;
      box.append(line);
    }
    const said = String(u.warning) + " · " + u.track;
    if (line.textContent !== said) line.textContent = said;
  }

  function show(u) {
    if (typeof u.track !== "string" || !TRACK_ID.test(u.track)) return;
    const seq = num(u.seq);
    const state = tracks.get(u.track) || newTrack(u);
    if (seq <= state.last) return; // already drawn (the hub delivers each seq once anyway)
    state.last = seq;
    extend(state, u);
    if (u.path_only === true) return; // a kept update replayed: its point of the path only
    state.ellipse.setAttribute("points", points(u.impact.outline));
    dot(state.impact, u.impact, 3);
    dot(state.launch, u.launch, 5);
    dot(state.head, u.position, 4);
    const f = state.card.fields;
    f["track-originator"].textContent = String(u.originator);
    f["track-phase"].textContent = String(u.phase);
    f["track-seq"].textContent = seq + " at " + String(u.at_text);
    f["track-position"].textContent = fixed(u.position.lat, 2) + "° N, " +
      fixed(u.position.lon, 2) + "° E, altitude " + whole(u.position.alt_km) + " km";
    f["track-impact-text"].textContent = fixed(u.impact.lat, 2) + "° N, " +
      fixed(u.impact.lon, 2) + "° E, ellipse " + whole(u.impact.semi_major_km) + " × " +
      whole(u.impact.semi_minor_km) + " km at " + fixed(u.impact.orientation_deg, 0) + "°" +
      (u.zone_text ? " — " + String(u.zone_text) : "");
    f["track-route"].textContent = String(u.route_text);
    f["track-sensors"].textContent = Array.from(state.sensors).sort().join(", ");
    if (u.synthesized === true) {
      state.card.synth.hidden = false;
      document.getElementById("track-synth").hidden = false;
    }
    warn(u);
    // the status (a polite live region) speaks when a track starts or changes phase or route,
    // not at every update
    const said = "Live: " + u.track + ": " + String(u.phase) + ", " + String(u.route_text);
    if (state.said !== said) {
      state.said = said;
      document.getElementById("tracks-status").textContent = said;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const status = document.getElementById("tracks-status");
    if (!status || !window.EventSource) return;
    const source = new EventSource(status.dataset.stream);
    source.addEventListener("track", (event) => {
      try { show(JSON.parse(event.data)); } catch (_) { /* a malformed event is not drawn */ }
    });
    source.addEventListener("open", () => { status.classList.remove("offline"); });
    source.addEventListener("error", () => { status.classList.add("offline"); });
  });
})();
