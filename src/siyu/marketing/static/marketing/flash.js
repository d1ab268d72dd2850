// Flash-sale countdowns: <span data-countdown="ISO time" data-done-reload> counts down to that
// moment (server time is in data-now, so a wrong phone clock does not matter).
(function () {
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function start(el) {
    var target = Date.parse(el.getAttribute("data-countdown"));
    var skew = Date.parse(el.getAttribute("data-now")) - Date.now();
    function tick() {
      var left = Math.max(0, Math.floor((target - (Date.now() + skew)) / 1000));
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600);
      var m = Math.floor(left % 3600 / 60), s = left % 60;
      el.textContent = (d ? d + "d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
      if (left === 0) {
        clearInterval(timer);
        if (el.hasAttribute("data-done-reload")) window.location.reload();
      }
    }
    var timer = setInterval(tick, 1000);
    tick();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-countdown]").forEach(start);
  });
})();
