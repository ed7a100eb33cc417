// The agreements timeline's cursor: a range input moves the cursor line at once and, when let
// go, loads the page at that instant (?at=), where the server shows every agreement's state.
// Without scripts the form's text field (?at=ISO 8601 with offset) does the same.
"use strict";
(function () {
  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
  }

  // The upload form: a chosen .toml file is read into the text area (the form posts text).
  function fileReader() {
    var file = document.getElementById("scenario-file");
    var text = document.getElementById("scenario-toml");
    var name = document.getElementById("scenario-name");
    var label = document.getElementById("scenario-file-label");
    if (!file || !text || !name) {
      return;
    }
    file.hidden = false;
    if (label) {
      label.hidden = false;
    }
    file.addEventListener("change", function () {
      var chosen = file.files && file.files[0];
      if (!chosen) {
        return;
      }
      name.value = chosen.name;
      chosen.text().then(function (content) {
        text.value = content;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fileReader();
    var range = document.getElementById("cursor-range");
    var line = document.getElementById("cursor-line");
    var field = document.getElementById("cursor-at");
    var form = document.getElementById("cursor-form");
    var chart = document.getElementById("timeline-chart");
    if (!range || !line || !field || !form || !chart) {
      return;
    }
    var since = Number(range.min);
    var until = Number(range.max);
    var left = Number(chart.getAttribute("data-plot-left"));
    var right = Number(chart.getAttribute("data-plot-right"));
    range.hidden = false;
    var label = document.getElementById("cursor-range-label");
    if (label) {
      label.hidden = false;
    }

    function move() {
      var t = Number(range.value);
      var share = (t - since) / (until - since);
      var x = left + Math.min(1, Math.max(0, share)) * (right - left);
      line.setAttribute("x1", x.toFixed(2));
      line.setAttribute("x2", x.toFixed(2));
      field.value = iso(t);
      range.setAttribute("aria-valuetext", new Date(t * 1000).toUTCString());
    }

    range.addEventListener("input", move);
    range.addEventListener("change", function () {
      move();
      form.submit();
    });
  });
})();
