// amlite web view: helpers every page uses (API calls that keep the function key, copy buttons, submit forms).
// Plain browser JavaScript, no build step and no network beyond this app's own API.
(function () {
  "use strict";
  var configElement = document.getElementById("amlite-config");
  var config = configElement ? JSON.parse(configElement.textContent) : {};

  function withKey(url) {
    if (!config.key) return url;
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "code=" + encodeURIComponent(config.key);
  }

  // fetch JSON (or text) from the API; rejects with the API's error message on 4xx/5xx.
  function api(url, options) {
    options = options || {};
    var init = { method: options.method || "GET", headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(withKey(url), init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var read = type.indexOf("application/json") === 0 ? response.json() : response.text();
      return read.then(function (body) {
        if (!response.ok) {
          var message = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + response.status;
          var error = new Error(message);
          error.status = response.status;
          throw error;
        }
        return { body: body, headers: response.headers, status: response.status };
      });
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function uiUrl(path) { return withKey("/api/ui" + path); }

  // Copy buttons: copy the text of the element they name.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  });

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // The AML submit body from a parameter form: param:NAME, bool:NAME, datastore:NAME + path:NAME.
  function submitBody(form) {
    var body = { ExperimentName: form.elements.experiment.value.trim(), ParameterAssignments: {},
                 DataPathAssignments: {}, RunSource: "Web" };
    Array.prototype.forEach.call(form.elements, function (input) {
      var name = input.name || "";
      var colon = name.indexOf(":");
      if (colon < 0) return;
      var kind = name.slice(0, colon), param = name.slice(colon + 1);
      if (kind === "param") body.ParameterAssignments[param] = input.value;
      else if (kind === "bool") body.ParameterAssignments[param] = input.checked ? "true" : "false";
      else if (kind === "datastore") {
        body.DataPathAssignments[param] = body.DataPathAssignments[param] || {};
        body.DataPathAssignments[param].DataStoreName = input.value.trim();
      } else if (kind === "path") {
        body.DataPathAssignments[param] = body.DataPathAssignments[param] || {};
        body.DataPathAssignments[param].RelativePath = input.value.trim();
      }
    });
    if (form.elements.description && form.elements.description.value.trim()) {
      body.Description = form.elements.description.value.trim();
    }
    if (form.elements.regenerate && form.elements.regenerate.checked) body.RegenerateOutputs = true;
    return body;
  }

  function showFormError(form, message) {
    var box = form.querySelector(".form-error");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  // Submit forms of published pipelines and endpoints: POST the AML body, then open the new run.
  Array.prototype.forEach.call(document.querySelectorAll("form.submit-form"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      showFormError(form, "");
      api(form.getAttribute("data-action"), { method: "POST", body: submitBody(form) }).then(function (answer) {
        window.location.href = uiUrl("/runs/" + encodeURIComponent(answer.body.Id));
      }, function (error) {
        showFormError(form, error.message);
        button.disabled = false;
      });
    });
  });

  window.amlite = { config: config, api: api, el: el, withKey: withKey, uiUrl: uiUrl, submitBody: submitBody,
                    showFormError: showFormError };
})();
