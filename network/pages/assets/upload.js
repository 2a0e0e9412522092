// The portal's upload, enhanced: the file is sent with XMLHttpRequest so a <progress> shows how far it is, then the
// report page the hub answers replaces this one. Without this script the form posts as any form does.
(function () {
  "use strict";

  function enhance(form) {
    var box = form.querySelector(".sending");
    var bar = form.querySelector("progress");
    var said = form.querySelector("[data-progress-text]");
    var button = form.querySelector("button[type=submit]");
    if (!box || !bar || !said || !button || !window.FormData) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.responseType = "document";
      xhr.upload.addEventListener("progress", function (sent) {
        if (sent.lengthComputable) {
          var percent = Math.floor((sent.loaded * 100) / sent.total);
          bar.value = percent;
          bar.textContent = percent + "%";
          said.textContent = percent < 100 ? percent + "% sent" : "Sent: booking the rows\u2026";
        }
      });
      xhr.addEventListener("load", function () {
        var answer = xhr.response;
        if (!answer || !answer.documentElement) {
          said.textContent = "The hub's answer could not be read (" + xhr.status + "). Reload the page and try again.";
          button.disabled = false;
          return;
        }
        document.title = answer.title;
        document.replaceChild(document.adoptNode(answer.documentElement), document.documentElement);
        document.querySelectorAll("form[data-upload]").forEach(enhance); // the form again, with its error said
        var heading = document.querySelector("h1");
        if (heading) {
          heading.setAttribute("tabindex", "-1");
          heading.focus();
        }
      });
      xhr.addEventListener("error", function () {
        said.textContent = "The file could not be sent: the connection failed. Try again.";
        button.disabled = false;
      });
      box.hidden = false;
      bar.value = 0;
      said.textContent = "Starting\u2026";
      button.disabled = true;
      xhr.send(new FormData(form));
    });
  }

  document.querySelectorAll("form[data-upload]").forEach(enhance);
})();
