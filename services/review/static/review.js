// Keyboard shortcuts of the review console. The form works without this file; it only saves keystrokes.
(function () {
  "use strict";
  var empty = document.getElementById("empty");
  if (empty) {  // an empty queue looks again every few seconds
    setTimeout(function () { window.location.reload(); }, 1000 * Number(empty.dataset.refresh || 3));
    return;
  }
  var form = document.getElementById("decision");
  if (!form) { return; }
  var rows = Array.prototype.slice.call(form.querySelectorAll("tr.check"));
  var active = 0;
  var sent = false;

  function show() {
    rows.forEach(function (row, i) { row.classList.toggle("active", i === active); });
  }
  function pick(row, key) {
    var chip = row.querySelector('[data-key="' + key + '"]');
    var select = row.querySelector("select");
    if (chip && select) { select.value = chip.dataset.label; select.dispatchEvent(new Event("change")); }
  }
  rows.forEach(function (row, i) {
    row.querySelectorAll("[data-key]").forEach(function (chip) {
      chip.addEventListener("click", function () { active = i; show(); pick(row, chip.dataset.key); });
    });
    var select = row.querySelector("select");
    if (select) {
      var model = select.value;
      select.addEventListener("change", function () { row.classList.toggle("changed", select.value !== model); });
    }
  });
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }  // one decision per item, however often Enter is pressed
    sent = true;
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target && event.target.tagName) || "";
    if (event.key === "Enter") {
      if (tag === "BUTTON" || tag === "TEXTAREA") { return; }
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (tag === "INPUT" || tag === "TEXTAREA") { return; }
    if (event.key === "j" && rows.length) { active = (active + 1) % rows.length; show(); }
    else if (event.key === "k" && rows.length) { active = (active - 1 + rows.length) % rows.length; show(); }
    else if (event.key === "u") { var box = document.getElementById("unusable"); box.checked = !box.checked; }
    else if (/^[1-9]$/.test(event.key) && rows.length) { pick(rows[active], event.key); }
    else { return; }
    event.preventDefault();
  });
  show();
})();
