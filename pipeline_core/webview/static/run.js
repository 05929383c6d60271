// amlite run page: live statuses (polling /api/runs/{id}/view), the step panel (logs with tail-follow,
// outputs, reuse decision, ParallelRunStep progress), keyboard navigation of the graph, Cancel and Resubmit.
(function () {
  "use strict";
  var A = window.amlite, config = A.config, el = A.el;
  if (config.page !== "run") return;

  var POLL_MS = 1500, LOG_POLL_MS = 1000, MAP_EVERY_MS = 5000, MAX_LOG_CHARS = 2000000;
  var TERMINAL = config.terminal, CANCEL_REQUESTED = config.cancelRequested;  // from RunStatus (status.py)
  var LOG_FILES = ["std_log.txt", "70_driver_log.txt", "stdout.txt", "stderr.txt"];
  // the line naming the exception (``ValueError: ...``), or a line that starts with "error:"
  var ERROR_LINE = /^\s*([\w.]*(Error|Exception)\b.*|error: .*)$/m;
  var runId = config.runId, view = config.view, selected = null, pollTimer = null, panel = null;
  var graph = document.getElementById("graph");
  var nodes = {}, order = [];
  Array.prototype.forEach.call(graph.querySelectorAll(".node"), function (node) {
    nodes[node.getAttribute("data-step")] = node;
    order[Number(node.getAttribute("data-order"))] = node;
  });

  function isTerminal(status) { return TERMINAL.indexOf(status) >= 0; }
  function stepPath(step) { return "/api/runs/" + encodeURIComponent(runId) + "/steps/" + encodeURIComponent(step); }
  function findStep(name) {
    for (var i = 0; i < view.Steps.length; i++) if (view.Steps[i].Name === name) return view.Steps[i];
    return null;
  }
  function fmtTime(text) {
    if (!text) return "-";
    var d = new Date(text);
    if (isNaN(d.getTime())) return text;
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function badge(status) { return el("span", { className: "badge st-" + status, text: status }); }

  // -- the graph and the steps table follow the view ----------------------------------------------------
  function meta(step) {
    var parts = [step.Status];
    if (step.IsReused) parts.push("reused");
    if (step.DurationText) parts.push(step.DurationText);
    if (step.MaxAttempts > 1 && step.Attempt > 1) parts.push("try " + step.Attempt + "/" + step.MaxAttempts);
    var p = step.Progress;
    if (p && p.MiniBatches) parts.push((p.FinishedMiniBatches || 0) + "/" + p.MiniBatches + " batches");
    return parts.join(" \u00b7 ");
  }
  function short(text, limit) { return text.length <= limit ? text : text.slice(0, limit - 1) + "\u2026"; }

  function paintStep(step) {
    var node = nodes[step.Name];
    if (node) {
      var classes = "node st-" + step.Status + (step.IsReused ? " reused" : "") + (selected === step.Name ? " selected" : "");
      if (node.getAttribute("class") !== classes) node.setAttribute("class", classes);
      var text = meta(step);
      var metaNode = node.querySelector(".meta");
      if (metaNode.textContent !== short(text, 34)) metaNode.textContent = short(text, 34);
      node.setAttribute("aria-label", step.Name + ": " + text);
    }
    var row = document.querySelector('.steps button[data-step="' + cssEscape(step.Name) + '"]');
    if (row) {
      var tr = row.closest("tr");
      var status = tr.querySelector('[data-field="status"]');
      status.className = "badge st-" + step.Status;
      status.textContent = step.Status;
      tr.querySelector('[data-field="reuse"]').textContent = step.Reuse;
      tr.querySelector('[data-field="duration"]').textContent = step.DurationText;
      tr.querySelector('[data-field="meta"]').textContent = meta(step);
    }
  }
  function cssEscape(text) { return window.CSS && CSS.escape ? CSS.escape(text) : text.replace(/["\\]/g, "\\$&"); }

  function paintRun() {
    var run = view.Run;
    var status = document.getElementById("run-status");
    status.className = "badge st-" + run.Status;
    status.textContent = run.Status;
    setText('[data-run="start"]', fmtTime(run.StartTime));
    setText('[data-run="end"]', fmtTime(run.EndTime));
    setText('[data-run="duration"]', run.DurationText || "-");
    var error = document.getElementById("run-error");
    if (run.Error && error.hidden) {
      var lines = run.Error.trim().split("\n");
      error.textContent = "";
      error.appendChild(el("strong", { text: lines[0] }));
      if (lines.length > 1) error.appendChild(el("details", { className: "error-details" }, [
        el("summary", { text: lines[lines.length - 1] }), el("pre", { text: run.Error })]));
      error.hidden = false;
    }
    var counts = Object.keys(view.StatusCounts).map(function (k) { return view.StatusCounts[k] + " " + k; });
    document.getElementById("step-counts").textContent = counts.join(" \u00b7 ");
    var cancel = document.getElementById("cancel-run");
    if (cancel) cancel.hidden = run.Terminal || run.Status === CANCEL_REQUESTED;
    document.getElementById("live-note").textContent = run.Terminal ? "" : "live \u00b7 updated " +
      new Date().toLocaleTimeString();
  }
  function setText(selector, text) {
    var node = document.querySelector(selector);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function apply(next) {
    view = next;
    view.Steps.forEach(paintStep);
    paintRun();
    if (panel && findStep(panel.name)) panel.update(findStep(panel.name));
  }

  function poll() {
    clearTimeout(pollTimer);
    A.api(config.urls.view).then(function (answer) {
      apply(answer.body);
      if (!view.Run.Terminal) pollTimer = setTimeout(poll, document.hidden ? POLL_MS * 4 : POLL_MS);
    }, function (error) {
      document.getElementById("live-note").textContent = "could not refresh (" + error.message + "); retrying";
      pollTimer = setTimeout(poll, POLL_MS * 4);
    });
  }

  // -- keyboard and pointer on the graph ------------------------------------------------------------------
  function focusNode(node) {
    order.forEach(function (n) { n.setAttribute("tabindex", "-1"); });
    node.setAttribute("tabindex", "0");
    node.focus();
    var box = node.getBoundingClientRect(), pane = graph.getBoundingClientRect();
    if (box.left < pane.left || box.right > pane.right || box.top < pane.top || box.bottom > pane.bottom) {
      node.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }
  graph.addEventListener("click", function (event) {
    var node = event.target.closest(".node");
    if (node) { focusNode(node); select(node.getAttribute("data-step"), true); }
  });
  graph.addEventListener("keydown", function (event) {
    var node = event.target.closest ? event.target.closest(".node") : null;
    if (!node) return;
    var at = Number(node.getAttribute("data-order")), next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = order[Math.min(order.length - 1, at + 1)];
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = order[Math.max(0, at - 1)];
    else if (event.key === "Home") next = order[0];
    else if (event.key === "End") next = order[order.length - 1];
    else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(node.getAttribute("data-step"), true);
      return;
    } else return;
    event.preventDefault();
    focusNode(next);
  });
  document.addEventListener("click", function (event) {
    var pick = event.target.closest ? event.target.closest("button.step-pick") : null;
    if (pick) select(pick.getAttribute("data-step"), true);
  });
  var fit = document.getElementById("fit-graph");
  fit.addEventListener("click", function () {
    var on = fit.getAttribute("aria-pressed") !== "true";
    fit.setAttribute("aria-pressed", on ? "true" : "false");
    graph.classList.toggle("fit", on);
  });

  // -- the step panel -------------------------------------------------------------------------------------
  function select(name, fromUser) {
    var step = findStep(name);
    if (!step) return;
    if (selected && nodes[selected]) nodes[selected].classList.remove("selected");
    selected = name;
    if (nodes[name]) nodes[name].classList.add("selected");
    if (panel) panel.close();
    panel = new StepPanel(step);
    if (fromUser && history.replaceState) history.replaceState(null, "", "#step=" + encodeURIComponent(name));
    if (fromUser && window.matchMedia("(max-width: 900px)").matches) {
      document.getElementById("step-panel").scrollIntoView({ block: "start" });
    }
  }

  function StepPanel(step) {
    var root = document.getElementById("step-panel");
    this.name = step.Name;
    this.closed = false;
    root.textContent = "";
    this.head = el("div", { className: "panel-head" });
    this.facts = el("dl", { className: "facts compact" });
    this.progress = el("div", { className: "prs" });
    this.outputs = el("div", { className: "outputs" });
    this.logs = el("div", { className: "logs" });
    root.appendChild(this.head);
    root.appendChild(this.facts);
    root.appendChild(this.progress);
    root.appendChild(el("h3", { text: "Outputs" }));
    root.appendChild(this.outputs);
    root.appendChild(el("h3", { text: "Logs" }));
    root.appendChild(this.logs);
    this.outputKey = null;
    this.mapAt = 0;
    this.prs = null;
    this.log = new LogView(this.logs, step);
    this.update(step);
  }
  StepPanel.prototype.close = function () { this.closed = true; this.log.stop(); };
  StepPanel.prototype.update = function (step) {
    this.step = step;
    this.log.update(step);
    var key = JSON.stringify(step);
    if (key === this.renderedKey) return;  // unchanged: keep what the reader opened (folded errors, focus)
    this.renderedKey = key;
    this.head.textContent = "";
    this.head.appendChild(el("h2", { text: step.Name, id: "panel-title" }));
    this.head.appendChild(badge(step.Status));
    if (step.IsReused) this.head.appendChild(el("span", { className: "badge reused-badge", text: "reused" }));
    var items = [["Type", step.StepType], ["Reuse", step.Reuse || "-"], ["Started", fmtTime(step.StartTime)],
                 ["Ended", fmtTime(step.EndTime)], ["Duration", step.DurationText || "-"],
                 ["Attempts", step.Attempt ? step.Attempt + " of " + step.MaxAttempts : "-"]];
    if (step.ReusedRunId) items.splice(2, 0, ["Reused from", step.ReusedRunId]);
    this.facts.textContent = "";
    var facts = this.facts;
    items.forEach(function (item) {
      facts.appendChild(el("dt", { text: item[0] }));
      var dd = el("dd", { text: item[1] });
      if (item[0] === "Reused from") {
        dd.textContent = "";
        dd.appendChild(el("a", { href: A.uiUrl("/runs/" + encodeURIComponent(item[1])), text: item[1] }));
      }
      facts.appendChild(dd);
    });
    if (step.Error) {
      var lines = step.Error.trim().split("\n"), last = lines[lines.length - 1];
      facts.appendChild(el("dt", { text: "Error" }));
      facts.appendChild(el("dd", {}, [el("span", { className: "error-text", text: lines[0] }), lines.length > 1 ?
        el("details", { className: "error-details" }, [el("summary", { text: last }),
          el("pre", { text: step.Error })]) : null]));
    }
    this.renderProgress(step);
    var outputs = JSON.stringify(step.Outputs);
    if (outputs !== this.outputKey) { this.outputKey = outputs; this.renderOutputs(step); }
  };

  StepPanel.prototype.renderProgress = function (step) {
    var p = step.Progress;
    if (!p) { this.progress.hidden = true; return; }
    this.progress.hidden = false;
    if (!this.prs) {
      this.progress.textContent = "";
      this.prs = {
        bar: el("progress", { max: "1", value: "0", "aria-label": "mini-batches finished" }),
        text: el("p", { className: "muted" }),
        canvas: el("canvas", { className: "batch-map", width: "400", height: "40", role: "img",
                               "aria-label": "mini-batch map" }),
        failed: el("div", { className: "failed-batches" })
      };
      this.progress.appendChild(el("h3", { text: "Mini-batches" }));
      this.progress.appendChild(this.prs.bar);
      this.progress.appendChild(this.prs.text);
      this.progress.appendChild(this.prs.canvas);
      this.progress.appendChild(el("p", { className: "legend small" }, [
        el("span", { className: "swatch ok" }), "succeeded ", el("span", { className: "swatch bad" }), "failed ",
        el("span", { className: "swatch todo" }), "not done"]));
      this.progress.appendChild(this.prs.failed);
      this.failedAfter = -1;
      this.loadFailed(true);
    }
    this.prs.bar.max = p.MiniBatches || 1;
    this.prs.bar.value = p.FinishedMiniBatches || 0;
    this.prs.text.textContent = step.ProgressText;
    var now = Date.now();
    if (now - this.mapAt > MAP_EVERY_MS || isTerminal(step.Status) && !this.mapFinal) {
      this.mapAt = now;
      this.mapFinal = isTerminal(step.Status);
      this.loadMap();
      if (isTerminal(step.Status) || (p.FailedMiniBatches || 0) !== this.failedSeen) this.loadFailed(true);
    }
  };
  StepPanel.prototype.loadMap = function () {
    var canvas = this.prs.canvas, self = this;
    A.api(stepPath(this.name) + "/minibatches/map").then(function (answer) {
      if (self.closed) return;
      drawMap(canvas, answer.body.Statuses);
    });
  };
  StepPanel.prototype.loadFailed = function (restart) {
    var self = this, box = this.prs.failed;
    if (restart) { this.failedAfter = -1; this.failedSeen = (this.step.Progress || {}).FailedMiniBatches || 0; }
    var url = stepPath(this.name) + "/minibatches?status=failed&top=50" +
      (this.failedAfter >= 0 ? "&after=" + this.failedAfter : "");
    A.api(url).then(function (answer) {
      if (self.closed) return;
      if (restart) box.textContent = "";
      var list = box.querySelector("ol") || box.appendChild(el("ol", { className: "batch-list" }));
      if (restart && !answer.body.Value.length) {
        box.textContent = "";
        box.appendChild(el("p", { className: "muted", text: "No failed mini-batches." }));
        return;
      }
      if (restart) box.insertBefore(el("h4", { text: "Failed mini-batches" }), list);
      answer.body.Value.forEach(function (batch) {
        var details = el("details", {}, [
          el("summary", {}, ["#" + batch.Index + " \u00b7 " + batch.Tries + " tr" + (batch.Tries === 1 ? "y" : "ies") +
            " \u00b7 ", el("span", { className: "error-text", text: batch.FirstErrorLine || "failed" })]),
          el("pre", { className: "small", text: (batch.Error || "") + (batch.Inputs.length ? "\n\ninputs: " +
            batch.Inputs.join(", ") : "") })]);
        list.appendChild(el("li", {}, [details]));
      });
      var more = box.querySelector("button.more");
      if (more) more.remove();
      if (answer.body.NextAfter !== null) {
        self.failedAfter = answer.body.NextAfter;
        more = el("button", { type: "button", className: "secondary small more", text: "Load more" });
        more.addEventListener("click", function () { self.loadFailed(false); });
        box.appendChild(more);
      }
    });
  };

  function drawMap(canvas, marks) {
    var n = marks.length, width = canvas.parentNode.clientWidth || 400;
    var cols = Math.min(n, Math.max(10, Math.floor(width / 4))) || 1, size = Math.max(2, Math.floor(width / cols));
    var rows = Math.ceil(n / cols);
    canvas.width = cols * size;
    canvas.height = Math.max(size, rows * size);
    canvas.setAttribute("aria-label", "mini-batch map: " + count(marks, "s") + " succeeded, " + count(marks, "f") +
      " failed, " + count(marks, ".") + " not done, of " + n);
    var ctx = canvas.getContext("2d"), colours = { s: "#15803d", f: "#b91c1c", ".": "#d1d5db" };
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ["s", "f", "."].forEach(function (mark) {
      ctx.fillStyle = colours[mark];
      for (var i = 0; i < n; i++) {
        if (marks.charAt(i) === mark) ctx.fillRect((i % cols) * size, Math.floor(i / cols) * size, size - (size > 3 ? 1 : 0),
                                                   size - (size > 3 ? 1 : 0));
      }
    });
  }
  function count(text, ch) { return text.split(ch).length - 1; }

  StepPanel.prototype.renderOutputs = function (step) {
    var box = this.outputs, self = this;
    box.textContent = "";
    if (!step.Outputs.length) {
      box.appendChild(el("p", { className: "muted", text: isTerminal(step.Status) ? "No outputs." :
        "Outputs are listed when the step ends." }));
      return;
    }
    step.Outputs.forEach(function (output) {
      var list = el("ul", { className: "files" });
      var section = el("section", { className: "output" }, [
        el("h4", {}, [output.Name + " ", el("span", { className: "muted mono",
          text: output.DataStoreName + "/" + output.RelativePath })]), list]);
      box.appendChild(section);
      self.loadFiles(output, list, null);
    });
  };
  StepPanel.prototype.loadFiles = function (output, list, continuation) {
    var self = this;
    var url = stepPath(this.name) + "/outputs/" + encodeURIComponent(output.Name) + "/files?top=100" +
      (continuation ? "&continuation=" + encodeURIComponent(continuation) : "");
    A.api(url).then(function (answer) {
      if (self.closed) return;
      var more = list.querySelector("li.more");
      if (more) more.remove();
      if (!answer.body.Value.length && !continuation) list.appendChild(el("li", { className: "muted", text: "empty" }));
      answer.body.Value.forEach(function (file) {
        var href = A.withKey("/api/ui/runs/" + encodeURIComponent(runId) + "/steps/" + encodeURIComponent(self.name) +
          "/outputs/" + encodeURIComponent(output.Name) + "/download?path=" + encodeURIComponent(file.Path));
        list.appendChild(el("li", {}, [el("a", { href: href, download: file.Path.split("/").pop(), text: file.Path }),
          el("span", { className: "muted", text: " " + sizeText(file.Size) })]));
      });
      if (answer.body.Continuation) {
        var button = el("button", { type: "button", className: "secondary small", text: "More files" });
        button.addEventListener("click", function () { self.loadFiles(output, list, answer.body.Continuation); });
        list.appendChild(el("li", { className: "more" }, [button]));
      }
    }, function (error) {
      list.appendChild(el("li", { className: "error-text", text: error.message }));
    });
  };
  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  // -- logs: one file at a time, read from an offset, followed while the step runs ----------------------------
  function LogView(root, step) {
    var self = this;
    this.step = step;
    this.file = "std_log.txt";
    this.tabs = el("div", { className: "tabs", role: "tablist", "aria-label": "Log files" });
    this.errorBox = el("p", { className: "error-line", role: "status", hidden: true });
    this.pre = el("pre", { className: "log", tabindex: "0", role: "tabpanel", "aria-live": "off" });
    this.follow = el("label", { className: "check small" }, [el("input", { type: "checkbox", checked: true }),
      " follow"]);
    LOG_FILES.forEach(function (name) {
      var tab = el("button", { type: "button", role: "tab", className: "tab", "data-file": name, text: name,
                               "aria-selected": name === self.file ? "true" : "false" });
      tab.addEventListener("click", function () { self.open(name); });
      tab.addEventListener("keydown", function (event) {
        var at = LOG_FILES.indexOf(name), to = null;
        if (event.key === "ArrowRight") to = LOG_FILES[(at + 1) % LOG_FILES.length];
        if (event.key === "ArrowLeft") to = LOG_FILES[(at + LOG_FILES.length - 1) % LOG_FILES.length];
        if (to) { event.preventDefault(); self.open(to); self.tabs.querySelector('[data-file="' + to + '"]').focus(); }
      });
      self.tabs.appendChild(tab);
    });
    this.tabs.appendChild(this.follow);
    root.appendChild(this.tabs);
    root.appendChild(this.errorBox);
    root.appendChild(this.pre);
    this.open(this.file);
  }
  LogView.prototype.open = function (file) {
    this.stop();
    this.stopped = false;
    this.file = file;
    this.offset = 0;
    this.size = 0;
    this.firstError = null;
    this.errorBox.hidden = true;
    this.pre.textContent = "";
    this.generation = (this.generation || 0) + 1;
    Array.prototype.forEach.call(this.tabs.querySelectorAll(".tab"), function (tab) {
      var on = tab.getAttribute("data-file") === file;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.setAttribute("tabindex", on ? "0" : "-1");
    });
    this.read();
  };
  LogView.prototype.stop = function () { this.stopped = true; clearTimeout(this.timer); };
  LogView.prototype.update = function (step) { this.step = step; };
  LogView.prototype.read = function () {
    var self = this, generation = this.generation;
    var url = stepPath(this.step.Name) + "/logs?file=" + encodeURIComponent(this.file) + "&offset=" + this.offset;
    A.api(url).then(function (answer) {
      if (self.stopped || generation !== self.generation) return;
      var text = answer.body || "";
      self.offset = Number(answer.headers.get("X-Log-Offset") || self.offset + text.length);
      if (text) self.append(text);
      else if (!self.size) self.pre.textContent = isTerminal(self.step.Status) || self.step.IsReused ?
        "(empty: this file was not written" + (self.step.IsReused ? "; the step was reused" : "") + ")" : "(waiting for output\u2026)";
      if (!isTerminal(self.step.Status)) self.timer = setTimeout(function () { self.read(); }, LOG_POLL_MS);
      else if (text) self.timer = setTimeout(function () { self.read(); }, LOG_POLL_MS);  // drain what is left
    }, function (error) {
      if (self.stopped) return;
      self.pre.textContent = error.message;
    });
  };
  LogView.prototype.append = function (text) {
    var pre = this.pre;
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 40;
    if (!this.size) pre.textContent = "";
    pre.appendChild(document.createTextNode(text));
    this.size += text.length;
    while (this.size > MAX_LOG_CHARS && pre.firstChild && pre.childNodes.length > 1) {
      this.size -= pre.firstChild.textContent.length;
      pre.removeChild(pre.firstChild);
    }
    if (!this.firstError) {
      var match = ERROR_LINE.exec(text);
      if (match) {
        this.firstError = match[0].trim();
        this.errorBox.textContent = "First error line: " + this.firstError;
        this.errorBox.hidden = false;
      }
    }
    var follow = this.follow.querySelector("input").checked;
    if (follow && (atBottom || this.size === text.length)) pre.scrollTop = pre.scrollHeight;
  };

  // -- Cancel and Resubmit --------------------------------------------------------------------------------------
  var cancelButton = document.getElementById("cancel-run");
  if (cancelButton) {
    var cancelDialog = document.getElementById("cancel-dialog");
    cancelButton.addEventListener("click", function () { cancelDialog.showModal(); });
    cancelDialog.addEventListener("close", function () {
      if (cancelDialog.returnValue !== "confirm") return;
      cancelButton.disabled = true;
      A.api(config.urls.run + "/cancel", { method: "POST" }).then(function () { poll(); }, function (error) {
        document.getElementById("live-note").textContent = "cancel refused: " + error.message;
        cancelButton.disabled = false;
      });
    });
  }
  var resubmitButton = document.getElementById("resubmit-run");
  if (resubmitButton) {
    var resubmitDialog = document.getElementById("resubmit-dialog"), form = document.getElementById("resubmit-form");
    resubmitButton.addEventListener("click", function () { A.showFormError(form, ""); resubmitDialog.showModal(); });
    form.querySelector("[data-close]").addEventListener("click", function () { resubmitDialog.close(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = document.getElementById("resubmit-confirm");
      submit.disabled = true;
      A.api(config.urls.run + "/resubmit", { method: "POST", body: A.submitBody(form) }).then(function (answer) {
        window.location.href = A.uiUrl("/runs/" + encodeURIComponent(answer.body.Id));
      }, function (error) {
        A.showFormError(form, error.message);
        submit.disabled = false;
      });
    });
  }

  // -- start -------------------------------------------------------------------------------------------------
  var wanted = /^#step=(.+)$/.exec(window.location.hash);
  if (wanted) select(decodeURIComponent(wanted[1]), false);
  paintRun();
  if (!view.Run.Terminal) pollTimer = setTimeout(poll, POLL_MS);
})();
