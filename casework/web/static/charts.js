// Draws each <canvas data-chart="ID"> from the JSON in <script type="application/json" id="ID">.
// External file only: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var colours = ["#0b6e69", "#1d3557", "#b7791f"];
  var lineColours = ["#5b21b6", "#b42318"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) { return; }
    var d = JSON.parse(source.textContent);
    var datasets = d.series.map(function (s, i) {
      return { label: s.label, data: s.data, borderColor: colours[i % colours.length],
               backgroundColor: colours[i % colours.length], borderWidth: i === 0 ? 2 : 3,
               pointRadius: i === 0 ? 2 : 0, tension: 0.2, spanGaps: true };
    });
    (d.lines || []).forEach(function (l, i) {
      datasets.push({ label: l.label, data: d.labels.map(function () { return l.value; }),
                      borderColor: lineColours[i % lineColours.length], borderDash: [6, 4], borderWidth: 2,
                      pointRadius: 0, fill: false });
    });
    var series = d.series.length;
    // Each reference line (target, persistent absence) says what it is at its right-hand end.
    var lineLabels = {
      id: "lineLabels",
      afterDatasetsDraw: function (chart) {
        var ctx = chart.ctx, area = chart.chartArea, y = chart.scales.y, taken = [];
        (d.lines || []).forEach(function (l, i) {
          var at = y.getPixelForValue(l.value);
          if (at < area.top - 1 || at > area.bottom + 1) { return; }
          // Above its line, unless that is off the chart or on another line's label: then below.
          var top = at - 19;
          if (top < area.top || taken.some(function (t) { return Math.abs(t - top) < 17; })) { top = at + 3; }
          taken.push(top);
          ctx.save();
          ctx.font = "bold 12px system-ui, sans-serif";
          var width = ctx.measureText(l.label).width;
          ctx.fillStyle = "rgba(255, 255, 255, 0.9)";  // readable over the attendance lines
          ctx.fillRect(area.right - width - 8, top, width + 6, 16);
          ctx.fillStyle = lineColours[i % lineColours.length];
          ctx.textAlign = "right";
          ctx.textBaseline = "middle";
          ctx.fillText(l.label, area.right - 5, top + 8);
          ctx.restore();
        });
      }
    };
    new Chart(canvas, {
      type: "line",
      plugins: [lineLabels],
      data: { labels: d.labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { min: d.min, max: d.max, ticks: { callback: function (v) { return v + (d.unit || ""); } } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  });
})();
