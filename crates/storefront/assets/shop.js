// shop: progressive enhancement only. Every page works without this script.
// - The assistant's form streams its reply (Server-Sent Events from /api/ai/chat) into the
//   page instead of reloading it.
// - Forms marked data-confirm ask before submitting (deleting a product).
"use strict";
(function () {
  function productLink(product) {
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.setAttribute("href", "/products/" + encodeURIComponent(product.id));
    link.textContent = product.name + " ($" + Number(product.price).toFixed(2) + ")";
    item.appendChild(link);
    return item;
  }

  function streamChat(form) {
    var input = form.querySelector("[name=message]");
    var log = document.getElementById("chat-log");
    if (!input || !log || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
    form.addEventListener("submit", function (event) {
      var message = input.value.trim();
      if (!message) return;
      event.preventDefault();
      var asked = document.createElement("li");
      asked.className = "you";
      asked.textContent = message;
      var reply = document.createElement("li");
      reply.className = "assistant";
      reply.setAttribute("aria-busy", "true");
      log.appendChild(asked);
      log.appendChild(reply);
      input.value = "";
      var button = form.querySelector("button");
      if (button) button.disabled = true;
      var buffer = "";
      function handle(block) {
        var kind = "message", data = "";
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) kind = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
        });
        if (!data) return;
        var payload = JSON.parse(data);
        if (kind === "delta") {
          reply.textContent += payload.text;
        } else if (kind === "done") {
          reply.textContent = payload.reply;
          if (payload.products && payload.products.length) {
            var list = document.createElement("ul");
            payload.products.forEach(function (p) { list.appendChild(productLink(p)); });
            reply.appendChild(list);
          }
        }
      }
      fetch("/api/ai/chat", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ message: message, stream: true }),
        credentials: "same-origin"
      }).then(function (response) {
        if (!response.ok || !response.body) throw new Error("status " + response.status);
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
            var end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              handle(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        reply.textContent = "The assistant is unavailable right now; please try again.";
      }).then(function () {
        reply.removeAttribute("aria-busy");
        if (button) button.disabled = false;
        input.focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-chat]").forEach(streamChat);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
})();
