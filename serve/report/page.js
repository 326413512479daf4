"use strict";
(function () {
  // Sorting: a click on a header sorts by that column, again reverses it.
  function key(td, num) {
    var s = td ? td.getAttribute("data-sort") : "";
    if (!num) return s || "";
    var x = parseFloat(s);
    return isNaN(x) ? -Infinity : x;
  }
  function sortTable(table, col) {
    var th = table.tHead.rows[0].cells[col];
    var num = th.getAttribute("data-type") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.classList.contains("empty"); });
    rows.forEach(function (r, i) { r._i = i; });
    rows.sort(function (a, b) {
      var x = key(a.cells[col], num), y = key(b.cells[col], num);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (!asc) c = -c;
      return c || a._i - b._i;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  // CSV of a table as shown (current order), RFC 4180 quoting; a table
  // that shows only its first rows carries the CSV of all its rows.
  function csvField(s) {
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function tableCSV(table) {
    if (table.hasAttribute("data-csv")) return table.getAttribute("data-csv");
    var out = [];
    var head = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return csvField(c.textContent); });
    out.push(head.join(","));
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      if (r.classList.contains("empty")) return;
      out.push(Array.prototype.map.call(r.cells, function (c) { return csvField(c.textContent); }).join(","));
    });
    return out.join("\n") + "\n";
  }
  window.retainTableCSV = function (id) { return tableCSV(document.getElementById(id)); };
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener("click", function () { sortTable(table, i); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(table, i); });
    });
  });
  document.querySelectorAll("a.csv").forEach(function (a) {
    a.addEventListener("click", function () {
      // The default action then downloads the data: URI under the name of
      // the download attribute.
      a.href = "data:text/csv;charset=utf-8," + encodeURIComponent(tableCSV(document.getElementById(a.getAttribute("data-table"))));
    });
  });
})();
