// Préau: the little JavaScript the pages use. ES5 only (browsers from 2018).
(function () {
  "use strict";
  // Maths: render TeX with the embedded KaTeX when the page loaded it.
  if (window.renderMathInElement) {
    window.renderMathInElement(document.body, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false }
      ],
      throwOnError: false
    });
  }
  // Clock: the box has no real-time clock. When its time is clearly behind this
  // browser's, show the form that sets it, filled with this browser's time.
  var clock = document.getElementById("clock-form");
  if (clock) {
    var boxTime = parseInt(clock.getAttribute("data-box-time"), 10);
    var now = Math.floor(Date.now() / 1000);
    clock.elements["browser_time"].value = String(now);
    clock.elements["tz_minutes"].value = String(-new Date().getTimezoneOffset());
    if (Math.abs(now - boxTime) > 300) {
      clock.className = clock.className.replace("hidden", "");
      var dir = document.getElementById("clock-dir");
      dir.textContent = dir.getAttribute(now > boxTime ? "data-behind" : "data-ahead");
      var late = document.getElementById("clock-late");
      if (late) { late.textContent = String(Math.round(Math.abs(now - boxTime) / 60)); }
    }
  }
  // Timed quiz: count down the seconds the box gave, then send the answers as they are.
  // The box keeps the real deadline; this is only a display and a convenience.
  var timer = document.getElementById("quiz-timer");
  var quizForm = document.getElementById("quiz-form");
  if (timer && quizForm) {
    var left = parseInt(timer.getAttribute("data-remaining"), 10) || 0;
    var end = Date.now() + left * 1000;
    var sent = false;
    var tick = function () {
      var s = Math.max(0, Math.round((end - Date.now()) / 1000));
      timer.textContent = Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
      if (s === 0 && !sent) {
        sent = true;
        // Time is up: the answers go as they are, without the summary step.
        quizForm.elements["step"].value = "finish";
        quizForm.submit();
      }
    };
    tick();
    setInterval(tick, 1000);
  }
  // Course import: refuse a file the card cannot hold before sending it (the box checks
  // again), and say that the import is running while the page waits for the report.
  var up = document.getElementById("upload-form");
  if (up) {
    var file = up.querySelector("input[type=file]");
    var note = document.getElementById("upload-note");
    var button = up.querySelector("button");
    var max = parseInt(up.getAttribute("data-max"), 10);
    file.addEventListener("change", function () {
      var tooBig = !isNaN(max) && file.files.length > 0 && file.files[0].size > max;
      button.disabled = tooBig;
      note.textContent = tooBig ? note.getAttribute("data-too-big") : "";
    });
    up.addEventListener("submit", function () {
      button.disabled = true;
      note.textContent = note.getAttribute("data-running");
    });
  }
  // Error pages: "previous page" goes back in history when there is one (the form
  // keeps what was typed), else it stays a link to the home page.
  var back = document.querySelectorAll("a[data-back]");
  for (var b = 0; b < back.length; b++) {
    back[b].addEventListener("click", function (e) {
      if (window.history.length > 1) { e.preventDefault(); window.history.back(); }
    });
  }
  // Forms with errors: focus the first field in error so a keyboard or screen reader
  // user lands on it (else the error about the whole form).
  var bad = document.querySelector("[aria-invalid=true]") || document.getElementById("form-error");
  if (bad) { bad.focus(); }
  // Opening hours form: send this browser's time zone along.
  var tz = document.querySelectorAll("input[name=tz_minutes]");
  for (var i = 0; i < tz.length; i++) {
    if (!tz[i].value) { tz[i].value = String(-new Date().getTimezoneOffset()); }
  }
})();
