// The builder redraws its tree with htmx; count the rule again after every redraw.
document.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target && event.detail.target.id === "builder" && window.htmx) {
    var form = document.getElementById("segment-form");
    if (form) { window.htmx.trigger(form, "recount"); }
  }
});
