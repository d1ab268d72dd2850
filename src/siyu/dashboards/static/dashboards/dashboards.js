// Draw every chart of a dashboard page with Plotly (served from the plotly package, no CDN).
document.addEventListener("DOMContentLoaded", function () {
  var source = document.getElementById("dashboard-figures");
  if (!source || !window.Plotly) { return; }
  var figures = JSON.parse(source.textContent);
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var figure = figures[el.getAttribute("data-chart")];
    if (!figure) { return; }
    window.Plotly.newPlot(el, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    }).then(function () { el.setAttribute("data-drawn", "1"); });
  });
});
